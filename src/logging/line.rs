//! Reading back the lines this module writes, so a program (or its tests) can check that
//! every record is whole and tagged with the process that wrote it:
//!
//! ```text
//! 2025-06-01T12:34:56.789Z INFO  myapp worker-2[41872] process_logging: record 3 of 10
//! ^ UTC time               ^level ^app ^process name and pid      ^target  ^message
//! ```

/// One line of a log file written by [`LogConfig`](super::LogConfig)'s logger, taken apart
/// (Python has no parser of its own: a `logging.Formatter` only writes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLine<'a> {
    /// `YYYY-MM-DDTHH:MM:SS.mmmZ`, UTC.
    pub timestamp: &'a str,
    /// The record's level.
    pub level: log::Level,
    /// The application name of the `LogConfig`.
    pub app: &'a str,
    /// The writing process's name.
    pub process: &'a str,
    /// The writing process's pid.
    pub pid: u32,
    /// The record's target (the module path by default).
    pub target: &'a str,
    /// The message, newlines escaped as `\\n`.
    pub message: &'a str,
}

impl<'a> LogLine<'a> {
    /// Read one line (with or without its newline) back; `None` if it is not a record in
    /// the module's format. A line cut or glued inside its message still parses: to detect
    /// that, check the message itself.
    pub fn parse(line: &'a str) -> Option<LogLine<'a>> {
        let line = line.strip_suffix('\n').unwrap_or(line);
        if line.contains('\n') {
            return None;
        }
        let (timestamp, rest) = line.split_once(' ')?;
        let ok_time = timestamp.len() == 24
            && timestamp.ends_with('Z')
            && timestamp.as_bytes()[10] == b'T'
            && timestamp
                .bytes()
                .enumerate()
                .all(|(i, b)| matches!(i, 4 | 7 | 10 | 13 | 16 | 19 | 23) || b.is_ascii_digit());
        if !ok_time {
            return None;
        }
        let (level, rest) = rest.split_at_checked(5)?;
        let level: log::Level = level.trim_end().parse().ok()?;
        let rest = rest.strip_prefix(' ')?;
        let (app, rest) = rest.split_once(' ')?;
        // "name[pid] target: message": the first "[digits] " followed by a target (one word)
        // and ": " ends the process name, so names may hold brackets and spaces.
        let mut search = 0;
        let (process, pid, target, message) = loop {
            let open = search + rest[search..].find('[')?;
            search = open + 1;
            let after = &rest[open + 1..];
            let digits = after.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 || !after[digits..].starts_with("] ") {
                continue;
            }
            let Some((target, message)) = after[digits + 2..].split_once(": ") else {
                continue;
            };
            if target.is_empty() || target.contains(' ') {
                continue;
            }
            let Ok(pid) = after[..digits].parse::<u32>() else {
                continue;
            };
            break (&rest[..open], pid, target, message);
        };
        Some(LogLine {
            timestamp,
            level,
            app,
            process,
            pid,
            target,
            message,
        })
    }
}
