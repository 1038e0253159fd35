//! Seed 000/002's `DirInfo`: walk a directory tree, counting, sizing and hashing every
//! file, with counters in shared memory another process can watch. (Only with the feature
//! `walk`: it needs `walkdir` and `sha2`.)

use multiproc::Value;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};

/// What seed 000/002's `DirInfo` finds in a directory tree.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct DirInfo {
    pub files: u64,
    pub bytes: u64,
    /// SHA-256 of every regular file's contents, in sorted path order, in hex.
    pub sha256: String,
    /// Entries that could not be read (permissions, vanished while walking).
    pub unreadable: u64,
}

/// Counters [`dir_info`] updates as it goes, for a status line elsewhere. Shared memory, so
/// they can also travel to a pool worker as a task argument.
#[derive(Clone, Serialize, Deserialize)]
pub struct WalkProgress {
    pub files: Value<u64>,
    pub bytes: Value<u64>,
}

impl WalkProgress {
    /// Both counters at zero.
    pub fn new() -> WalkProgress {
        WalkProgress {
            files: Value::new(0),
            bytes: Value::new(0),
        }
    }
}

impl Default for WalkProgress {
    fn default() -> WalkProgress {
        WalkProgress::new()
    }
}

/// Seed 000/002's `DirInfo.run`: count, size and hash every regular file under `dir`, in
/// sorted path order (symbolic links are not followed), updating `progress` as it reads.
pub fn dir_info(dir: &Path, progress: &WalkProgress) -> DirInfo {
    let mut hasher = Sha256::new();
    let (mut files, mut bytes, mut unreadable) = (0u64, 0u64, 0u64);
    let mut buf = vec![0u8; 1 << 16];
    let walk = walkdir::WalkDir::new(dir)
        .follow_links(false)
        .sort_by_file_name();
    for entry in walk {
        let Ok(entry) = entry else {
            unreadable += 1;
            continue;
        };
        if !entry.file_type().is_file() {
            continue;
        }
        let Ok(mut file) = std::fs::File::open(entry.path()) else {
            unreadable += 1;
            continue;
        };
        let mut size = 0u64;
        loop {
            match file.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    hasher.update(&buf[..n]);
                    size += n as u64;
                    progress.bytes.store(bytes + size);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => {
                    unreadable += 1;
                    break;
                }
            }
        }
        files += 1;
        bytes += size;
        progress.files.store(files);
        progress.bytes.store(bytes);
    }
    let sha256 = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    DirInfo {
        files,
        bytes,
        sha256,
        unreadable,
    }
}

/// This Rust toolchain's directory (`rustc --print sysroot`), as the talk walked Python's
/// own installation; or else the directory holding the running program.
pub fn toolchain_dir() -> PathBuf {
    let sysroot = std::process::Command::new("rustc")
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
        .filter(|p| p.is_dir());
    sysroot.unwrap_or_else(|| {
        std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf))
            .unwrap_or_else(|| PathBuf::from("."))
    })
}
