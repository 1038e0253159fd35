//! Three examples copied as they are into a crate of their own, with only `multiproc`,
//! `clap` and `serde` as dependencies, build: a reader can copy them without the kit.

use std::path::Path;
use std::time::Duration;

#[test]
fn three_examples_build_as_a_standalone_crate() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let dir = root.join("target/standalone");
    let bin = dir.join("crate/src/bin");
    std::fs::create_dir_all(&bin).unwrap();
    let manifest = format!(
        "[package]\nname = \"copied-examples\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\
         publish = false\n\n[workspace]\n\n[dependencies]\n\
         multiproc = {{ path = {:?} }}\n\
         clap = {{ version = \"4.6\", features = [\"derive\"] }}\n\
         serde = {{ version = \"1\", features = [\"derive\"] }}\n",
        root.display().to_string()
    );
    std::fs::write(dir.join("crate/Cargo.toml"), manifest).unwrap();
    std::fs::copy(root.join("Cargo.lock"), dir.join("crate/Cargo.lock")).unwrap();
    for name in ["array_squares", "pool_map_sum", "queue_sentinel"] {
        let from = root.join(format!("examples/{name}.rs"));
        std::fs::copy(from, bin.join(format!("{name}.rs"))).unwrap();
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    // harness::Example runs it in its own process group and kills the group on timeout.
    let run = harness::Example::new("cargo build (standalone)", &cargo)
        .args(["build", "--offline", "--bins", "--manifest-path"])
        .arg(dir.join("crate/Cargo.toml"))
        .env("CARGO_TARGET_DIR", dir.join("target"))
        .timeout(Duration::from_secs(900))
        .run();
    run.expect_success();
}
