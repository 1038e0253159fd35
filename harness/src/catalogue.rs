//! The example catalogue: one `[[bin]]` per example in examples/Cargo.toml, each described by
//! `[package.metadata.example.<name>]` (`description`, `category`, `seed`); a bin that needs
//! a cargo feature says so in its `required-features`, and is built (and tested) only with
//! it. The README's
//! table is rendered from it between two markers and never edited by hand; the catalogue
//! test fails when the committed README differs from the rendering.

use std::path::{Path, PathBuf};

pub const START: &str = "<!-- catalogue:start: generated from examples/Cargo.toml by `just readme` (cargo run -p harness --bin catalogue -- readme); do not edit -->";
/// The manifest that declares the examples, relative to the workspace root.
pub const MANIFEST: &str = "examples/Cargo.toml";
pub const END: &str = "<!-- catalogue:end -->";

/// Categories in the order the README lists them.
pub const CATEGORIES: &[&str] = &[
    "A. Processes",
    "B. Communication",
    "C. Shared memory",
    "D. Synchronisation",
    "E. Pools and data parallelism",
    "F. Patterns, pitfalls and measurements",
    "G. Beyond one machine",
];

/// One example as the catalogue describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub path: String,
    pub description: String,
    pub category: String,
    pub seed: String,
    /// The bin's `required-features`: cargo builds it only when all are enabled (empty for
    /// the examples of the default build).
    pub required_features: Vec<String>,
}

impl Entry {
    /// Whether cargo builds this example when exactly the features `enabled` are on.
    pub fn is_built_with(&self, enabled: impl Fn(&str) -> bool) -> bool {
        self.required_features.iter().all(|f| enabled(f))
    }
}

/// The workspace root (the directory holding the root Cargo.toml).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("harness/ lives in the workspace root")
        .to_path_buf()
}

/// The catalogue, in examples/Cargo.toml order, and the problems found reading it (a bin without
/// metadata, metadata without a bin, a missing field or file, an unknown category, a bin
/// that `cargo doc` would document).
pub fn load(root: &Path) -> (Vec<Entry>, Vec<String>) {
    let text = std::fs::read_to_string(root.join(MANIFEST)).expect("read examples/Cargo.toml");
    let doc: toml::Table = text.parse().expect("examples/Cargo.toml parses");
    let mut problems = Vec::new();
    let empty = toml::Table::new();
    let meta = doc
        .get("package")
        .and_then(|p| p.get("metadata"))
        .and_then(|m| m.get("example"))
        .and_then(|e| e.as_table())
        .unwrap_or(&empty);
    let bins: Vec<(String, String, Vec<String>)> = doc
        .get("bin")
        .and_then(|b| b.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|b| {
                    let name = b.get("name")?.as_str()?.to_string();
                    // Paths in the manifest are relative to examples/; entries carry
                    // them relative to the workspace root, as the README links them.
                    let path = format!("examples/{}", b.get("path")?.as_str()?);
                    let features = b
                        .get("required-features")
                        .and_then(|f| f.as_array())
                        .map(|f| {
                            f.iter()
                                .filter_map(|v| v.as_str().map(str::to_string))
                                .collect()
                        })
                        .unwrap_or_default();
                    Some((name, path, features))
                })
                .collect()
        })
        .unwrap_or_default();
    // An example is not documentation of the library: without `doc = false`, `cargo doc`
    // lists it as a crate of its own beside `multiproc`.
    for b in doc
        .get("bin")
        .and_then(|b| b.as_array())
        .into_iter()
        .flatten()
    {
        if b.get("doc").and_then(|d| d.as_bool()) != Some(false) {
            let name = b.get("name").and_then(|n| n.as_str()).unwrap_or("?");
            problems.push(format!("[[bin]] {name} needs `doc = false`"));
        }
    }
    let mut entries = Vec::new();
    for (name, path, features) in &bins {
        let Some(m) = meta.get(name) else {
            problems.push(format!(
                "[[bin]] {name} has no [package.metadata.example.{name}]"
            ));
            continue;
        };
        let field = |f: &str| -> String {
            m.get(f)
                .and_then(|v| v.as_str())
                .map(str::to_string)
                .unwrap_or_default()
        };
        let entry = Entry {
            name: name.clone(),
            path: path.clone(),
            description: field("description"),
            category: field("category"),
            seed: field("seed"),
            required_features: features.clone(),
        };
        for (f, v) in [
            ("description", &entry.description),
            ("category", &entry.category),
            ("seed", &entry.seed),
        ] {
            if v.is_empty() {
                problems.push(format!("example {name}: metadata field `{f}` is missing"));
            }
        }
        if !CATEGORIES.contains(&entry.category.as_str()) {
            problems.push(format!(
                "example {name}: category {:?} is not one of {CATEGORIES:?}",
                entry.category
            ));
        }
        if !root.join(path).is_file() {
            problems.push(format!("example {name}: {path} does not exist"));
        }
        entries.push(entry);
    }
    for name in meta.keys() {
        if !bins.iter().any(|(b, _, _)| b == name) {
            problems.push(format!(
                "[package.metadata.example.{name}] has no matching [[bin]]"
            ));
        }
    }
    (entries, problems)
}

/// The README block between (and including) the markers.
pub fn render(entries: &[Entry]) -> String {
    let mut out = String::new();
    out.push_str(START);
    out.push('\n');
    for cat in CATEGORIES {
        let in_cat: Vec<&Entry> = entries.iter().filter(|e| e.category == *cat).collect();
        if in_cat.is_empty() {
            continue;
        }
        out.push_str(&format!(
            "\n### {cat}\n\n| example | seed | what it shows |\n|---|---|---|\n"
        ));
        for e in in_cat {
            out.push_str(&format!(
                "| [`{}`]({}) | {} | {} |\n",
                e.name,
                e.path,
                e.seed,
                e.description.replace('|', "\\|")
            ));
        }
    }
    out.push('\n');
    out.push_str(END);
    out
}

/// `readme` with its catalogue block replaced by a fresh rendering. `None` when the
/// markers are missing.
pub fn splice(readme: &str, entries: &[Entry]) -> Option<String> {
    let start = readme.find(START)?;
    let end = readme[start..].find(END)? + start + END.len();
    Some(format!(
        "{}{}{}",
        &readme[..start],
        render(entries),
        &readme[end..]
    ))
}

/// One line per example, for `just` with no arguments.
pub fn listing(entries: &[Entry]) -> String {
    let width = entries.iter().map(|e| e.name.len()).max().unwrap_or(0);
    let mut out = String::new();
    for cat in CATEGORIES {
        let in_cat: Vec<&Entry> = entries.iter().filter(|e| e.category == *cat).collect();
        if in_cat.is_empty() {
            continue;
        }
        out.push_str(&format!("{cat}\n"));
        for e in in_cat {
            out.push_str(&format!("  {:width$}  {}\n", e.name, e.description));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, cat: &str) -> Entry {
        Entry {
            name: name.into(),
            path: format!("examples/{name}.rs"),
            description: "does | things".into(),
            category: cat.into(),
            seed: "004".into(),
            required_features: Vec::new(),
        }
    }

    #[test]
    fn render_groups_by_category_and_escapes_pipes() {
        let r = render(&[entry("b", "C. Shared memory"), entry("a", "A. Processes")]);
        let a = r.find("### A. Processes").unwrap();
        let c = r.find("### C. Shared memory").unwrap();
        assert!(a < c);
        assert!(r.contains("does \\| things"));
        assert!(r.starts_with(START) && r.ends_with(END));
    }

    #[test]
    fn an_entry_is_built_only_with_its_required_features() {
        let mut e = entry("a", "G. Beyond one machine");
        assert!(e.is_built_with(|_| false), "no requirement: always built");
        e.required_features = vec!["mpi".into()];
        assert!(!e.is_built_with(|_| false));
        assert!(e.is_built_with(|f| f == "mpi"));
    }

    #[test]
    fn splice_replaces_only_the_block() {
        let readme = format!("head\n{START}\nold\n{END}\ntail\n");
        let new = splice(&readme, &[entry("a", "A. Processes")]).unwrap();
        assert!(new.starts_with("head\n") && new.ends_with("\ntail\n"));
        assert!(!new.contains("old"));
        assert!(splice("no markers", &[]).is_none());
    }
}
