//! `catalogue list`: the examples and what each shows (what `just` prints).
//! `catalogue readme`: regenerate the README's generated blocks: the example catalogue from
//! examples/Cargo.toml and the Python → Rust table from src/python.md.
//! `catalogue check`: exit 1 if either block of the README, or either source, is out of date.

use harness::catalogue::{listing, load, root, splice};
use harness::python_table;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cmd = std::env::args().nth(1).unwrap_or_else(|| "list".into());
    let root = root();
    let (entries, mut problems) = load(&root);
    let table = python_table::load(&root);
    problems.extend(python_table::problems(&table));
    for p in &problems {
        eprintln!("catalogue: {p}");
    }
    let readme_path = root.join("README.md");
    match cmd.as_str() {
        "list" => {
            print!("{}", listing(&entries));
            ExitCode::SUCCESS
        }
        "readme" | "check" => {
            let readme = std::fs::read_to_string(&readme_path).unwrap_or_default();
            let Some(fresh) = splice(&readme, &entries) else {
                eprintln!("catalogue: README.md lacks the catalogue markers");
                return ExitCode::FAILURE;
            };
            let Some(fresh) = python_table::splice(&fresh, &table) else {
                eprintln!("catalogue: README.md lacks the python-table markers");
                return ExitCode::FAILURE;
            };
            if cmd == "readme" {
                std::fs::write(&readme_path, fresh).expect("write README.md");
                println!(
                    "README.md: catalogue of {} examples, Python → Rust table of {} rows",
                    entries.len(),
                    table.lines().filter(|l| l.starts_with('|')).count() - 2
                );
            } else if fresh != readme {
                eprintln!("catalogue: README.md is out of date; run `just readme`");
                return ExitCode::FAILURE;
            }
            if problems.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        other => {
            eprintln!("usage: catalogue [list|readme|check] (got {other:?})");
            ExitCode::from(2)
        }
    }
}
