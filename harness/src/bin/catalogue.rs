//! `catalogue list`: the examples and what each shows (what `just` prints).
//! `catalogue readme`: regenerate the README's catalogue block from examples/Cargo.toml.
//! `catalogue check`: exit 1 if the README or the catalogue is out of date.

use harness::catalogue::{listing, load, root, splice};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cmd = std::env::args().nth(1).unwrap_or_else(|| "list".into());
    let root = root();
    let (entries, problems) = load(&root);
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
            if cmd == "readme" {
                std::fs::write(&readme_path, fresh).expect("write README.md");
                println!("README.md catalogue: {} examples", entries.len());
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
