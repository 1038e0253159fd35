//! `key=value` words anywhere in a line of stdout: the examples print each fact once, in a
//! sentence a person reads ("Sum over 2 workers: sum=42"), and the tests read the words.
//! A word is a run of non-blank characters; a value that starts with `"` runs to its closing
//! quote (with `\"` escapes), so a quoted string may hold blanks. Keys are identifiers.
//! (harness's own `Run::values` reads whole `key=value` lines only, for now.)

use std::str::FromStr;

/// The `key=value` words of one line, in order.
pub fn line_words(line: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = line.char_indices().peekable();
    while let Some(&(start, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let mut end = line.len();
        let mut quoted = false;
        let mut escaped = false;
        let mut prev_eq = false;
        while let Some(&(i, c)) = chars.peek() {
            if quoted {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == '"' {
                    quoted = false;
                }
            } else if c.is_whitespace() {
                end = i;
                break;
            } else if c == '"' && prev_eq {
                quoted = true;
            }
            prev_eq = c == '=' && !quoted;
            chars.next();
        }
        let word = &line[start..end];
        if let Some((k, v)) = word.split_once('=')
            && !k.is_empty()
            && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            out.push((k.to_string(), v.to_string()));
        }
    }
    out
}

/// Reading `key=value` words from a finished run.
pub trait Words {
    /// Every value printed for `key`, in order.
    fn words(&self, key: &str) -> Vec<String>;
    /// Every value for `key`, parsed.
    fn words_parsed<T: FromStr>(&self, key: &str) -> Vec<T>
    where
        T::Err: std::fmt::Debug;
    /// The single value of `key`, parsed.
    fn word<T: FromStr>(&self, key: &str) -> T
    where
        T::Err: std::fmt::Debug;
}

impl Words for harness::Run {
    fn words(&self, key: &str) -> Vec<String> {
        self.stdout()
            .lines()
            .flat_map(line_words)
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v)
            .collect()
    }

    fn words_parsed<T: FromStr>(&self, key: &str) -> Vec<T>
    where
        T::Err: std::fmt::Debug,
    {
        self.words(key)
            .iter()
            .map(|v| {
                v.parse().unwrap_or_else(|e| {
                    panic!(
                        "{key}={v} does not parse: {e:?}\n--- stdout:\n{}",
                        self.stdout()
                    )
                })
            })
            .collect()
    }

    fn word<T: FromStr>(&self, key: &str) -> T
    where
        T::Err: std::fmt::Debug,
    {
        let mut all = self.words_parsed::<T>(key);
        assert_eq!(
            all.len(),
            1,
            "expected exactly one {key}= word\n--- stdout:\n{}\n--- stderr:\n{}",
            self.stdout(),
            self.stderr()
        );
        all.remove(0)
    }
}

#[test]
fn words_are_read_anywhere_in_a_line_and_quoted_values_keep_their_blanks() {
    let got = line_words(r#"Sum over workers=2: sum=42 and a="x y \" z" then x=1,2"#);
    let want = [
        ("workers", "2:"),
        ("sum", "42"),
        ("a", r#""x y \" z""#),
        ("x", "1,2"),
    ];
    let got: Vec<(&str, &str)> = got.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(got, want);
    assert!(line_words("no words = here (k=v)").is_empty());
}
