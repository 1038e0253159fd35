//! The Python → Rust table, kept once in `src/python.md`. The library's front page includes
//! that file as it is (`#![doc = include_str!("python.md")]` in src/lib.rs), intra-doc links
//! and all; the README gets a copy between two markers with those links turned into plain
//! code, since GitHub cannot follow them. `catalogue readme` writes the copy, and
//! `catalogue check` and harness/tests/python_table.rs fail when it is stale.

use std::path::Path;

/// The table's one source, relative to the workspace root.
pub const SOURCE: &str = "src/python.md";
/// The line src/lib.rs must contain for the front page to show the table.
pub const LIB_INCLUDE: &str = "#![doc = include_str!(\"python.md\")]";
/// The README line that opens the generated copy.
pub const START: &str = "<!-- python-table:start: generated from src/python.md by `just readme` (cargo run -p harness --bin catalogue -- readme); do not edit -->";
/// The README line that closes it.
pub const END: &str = "<!-- python-table:end -->";

/// The table's source text.
pub fn load(root: &Path) -> String {
    std::fs::read_to_string(root.join(SOURCE)).expect("read src/python.md")
}

/// Whether a link target is a rustdoc path (`Process::new`, `cpu::cpu_count`) rather than
/// something GitHub can follow (a URL, a file, an anchor).
fn is_rustdoc_path(target: &str) -> bool {
    !(target.contains("://")
        || target.contains('/')
        || target.starts_with('#')
        || target.ends_with(".md"))
}

/// `md` with every rustdoc link to code, `` [`x`](path) `` or `` [`x`] ``, replaced by the
/// code `` `x` `` alone. Other links are kept.
pub fn plain(md: &str) -> String {
    let mut out = String::with_capacity(md.len());
    let mut rest = md;
    while let Some(i) = rest.find("[`") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let Some(j) = after[1..].find("`]").map(|j| j + 1) else {
            out.push_str(&rest[i..]);
            return out;
        };
        let code = &after[..=j];
        let tail = &after[j + 2..];
        match tail
            .strip_prefix('(')
            .and_then(|t| t.find(')').map(|k| (&t[..k], &t[k + 1..])))
        {
            Some((target, next)) if is_rustdoc_path(target) => {
                out.push_str(code);
                rest = next;
            }
            Some((target, next)) => {
                out.push_str(&format!("[{code}]({target})"));
                rest = next;
            }
            None => {
                out.push_str(code);
                rest = tail;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The README block between (and including) the markers.
pub fn render(md: &str) -> String {
    format!("{START}\n\n{}\n\n{END}", plain(md).trim())
}

/// `readme` with its table block replaced by a fresh rendering; `None` when the markers
/// are missing.
pub fn splice(readme: &str, md: &str) -> Option<String> {
    let start = readme.find(START)?;
    let end = readme[start..].find(END)? + start + END.len();
    Some(format!(
        "{}{}{}",
        &readme[..start],
        render(md),
        &readme[end..]
    ))
}

/// What is wrong with the table's shape: a row whose cell count differs from the header's,
/// or adjacent code spans that would run together once their links are gone.
pub fn problems(md: &str) -> Vec<String> {
    let cells = |line: &str| line.replace("\\|", "").matches('|').count();
    let rows: Vec<&str> = md.lines().filter(|l| l.starts_with('|')).collect();
    let mut problems = Vec::new();
    let Some(header) = rows.first() else {
        return vec![format!("{SOURCE} holds no table")];
    };
    for row in &rows {
        if cells(row) != cells(header) {
            problems.push(format!(
                "{SOURCE}: this row has {} cells, the header {}: {row}",
                cells(row) - 1,
                cells(header) - 1
            ));
        }
    }
    for line in plain(md).lines() {
        if line.contains("``") {
            problems.push(format!(
                "{SOURCE}: two code spans touch once links are removed (put them in one span): {line}"
            ));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rustdoc_links_become_code_and_other_links_stay() {
        assert_eq!(
            plain("[`Value::new(0)`](Value::new), [`Error`] and [`x`](cpu::cpu_count)"),
            "`Value::new(0)`, `Error` and `x`"
        );
        assert_eq!(
            plain("[`Err(WorkerDied(..))`](Error::WorkerDied) for it"),
            "`Err(WorkerDied(..))` for it"
        );
        assert_eq!(
            plain("see [`SOUNDNESS`](SOUNDNESS.md) or [`a`](https://x.org/a)"),
            "see [`SOUNDNESS`](SOUNDNESS.md) or [`a`](https://x.org/a)"
        );
        assert_eq!(
            plain("[plain](link) `code` [`open"),
            "[plain](link) `code` [`open"
        );
    }

    #[test]
    fn splice_replaces_only_the_block() {
        let readme = format!("head\n{START}\nold\n{END}\ntail\n");
        let new = splice(&readme, "| a |\n|---|\n| [`b`](B) |\n").unwrap();
        assert_eq!(
            new,
            format!("head\n{START}\n\n| a |\n|---|\n| `b` |\n\n{END}\ntail\n")
        );
        assert!(splice("no markers", "").is_none());
    }

    #[test]
    fn problems_finds_a_short_row_and_touching_spans() {
        assert!(problems("| a | b |\n|---|---|\n| x | y |\n").is_empty());
        assert_eq!(problems("| a | b |\n|---|---|\n| x |\n").len(), 1);
        assert_eq!(problems("| a |\n|---|\n| [`x`](X)`.y` |\n").len(), 1);
    }
}
