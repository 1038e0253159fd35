//! The minimum Rust the workspace declares (`rust-version` in Cargo.toml) must be true.
//!
//! Two checks keep it so: clippy's `incompatible_msrv` lint (run by CI with `-D warnings`)
//! refuses any standard-library API newer than the declared version in our own code, and
//! this test refuses a dependency, in the locked versions, that declares a newer minimum.

use std::process::Command;

/// `"1.86"` and `"1.86.0"` as the same comparable triple.
fn version(s: &str) -> [u64; 3] {
    let mut v = [0; 3];
    for (slot, part) in v.iter_mut().zip(s.split('.')) {
        *slot = part.parse().unwrap_or(0);
    }
    v
}

#[test]
fn declared_rust_version_covers_every_locked_dependency() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--locked"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("metadata is JSON");
    let packages = meta["packages"].as_array().expect("packages");
    let ours = packages
        .iter()
        .find(|p| p["name"] == "multiproc")
        .and_then(|p| p["rust_version"].as_str())
        .expect("multiproc declares a rust-version");
    let too_new: Vec<String> = packages
        .iter()
        .filter_map(|p| {
            let needs = p["rust_version"].as_str()?;
            (version(needs) > version(ours)).then(|| {
                format!(
                    "{} {} needs {needs}",
                    p["name"].as_str().unwrap_or("?"),
                    p["version"].as_str().unwrap_or("?")
                )
            })
        })
        .collect();
    assert!(
        too_new.is_empty(),
        "Cargo.toml declares rust-version = \"{ours}\", but: {}; raise rust-version",
        too_new.join(", ")
    );
}

/// Language features the workspace's own code uses, with the Rust that first accepts
/// them: clippy's `incompatible_msrv` checks library APIs, not syntax, so the syntax is
/// looked for here. Each entry: what, the text that marks it (outside comments), since.
const SYNTAX: &[(&str, &str, &str)] = &[
    // `if let A = a && let B = b` (edition 2024).
    ("let chains", "&& let ", "1.88"),
];

fn rust_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() && !path.ends_with("target") {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn declared_rust_version_covers_the_syntax_our_code_uses() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    let ours = manifest
        .lines()
        .find_map(|l| l.strip_prefix("rust-version = "))
        .map(|v| v.trim_matches('"').to_string())
        .expect("Cargo.toml declares a rust-version");
    let mut files = Vec::new();
    for dir in ["src", "tests", "benches", "examples", "harness"] {
        rust_files(&root.join(dir), &mut files);
    }
    assert!(files.len() > 20, "found the sources: {}", files.len());
    let mut problems = Vec::new();
    for (what, marker, since) in SYNTAX {
        let used = files.iter().find(|f| {
            std::fs::read_to_string(f).unwrap().lines().any(|l| {
                let code = l.split("//").next().unwrap_or("");
                code.contains(marker)
            })
        });
        if let Some(file) = used
            && version(since) > version(&ours)
        {
            problems.push(format!("{what} (in {}) need {since}", file.display()));
        }
    }
    assert!(
        problems.is_empty(),
        "Cargo.toml declares rust-version = \"{ours}\", but {}; raise rust-version",
        problems.join(", ")
    );
}
