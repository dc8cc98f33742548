//! One switch-changing process per data dir. `mesa serve` holds `<data_dir>/mesa.lock`;
//! `mesa replay` and `mesa reconcile` (unless `--dry-run`) take it too, so a one-off command
//! can never apply changes beside a running server and race its per-AP ordering.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("another mesa ({0}) is changing switches from this data dir; stop it, or use --dry-run (a running `mesa serve` reconciles by itself with [reconcile] enabled = true)")]
    Busy(String),
    #[error("cannot lock {path}: {reason}")]
    Io { path: String, reason: String },
}

/// Held until dropped (the OS releases it if the process dies).
pub struct DataDirLock {
    _file: File,
}

impl DataDirLock {
    pub fn acquire(data_dir: &Path, holder: &str) -> Result<DataDirLock, LockError> {
        let path: PathBuf = data_dir.join("mesa.lock");
        let io = |e: std::io::Error| LockError::Io {
            path: path.display().to_string(),
            reason: e.to_string(),
        };
        std::fs::create_dir_all(data_dir).map_err(io)?;
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let who = std::fs::read_to_string(&path).unwrap_or_default();
                return Err(LockError::Busy(who.trim().to_string()));
            }
            Err(TryLockError::Error(e)) => return Err(io(e)),
        }
        use std::io::Write;
        file.set_len(0).map_err(io)?;
        write!(file, "{holder}, pid {}", std::process::id()).map_err(io)?;
        Ok(DataDirLock { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_holder_is_refused_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let first = DataDirLock::acquire(dir.path(), "mesa serve").unwrap();
        let err = DataDirLock::acquire(dir.path(), "mesa replay")
            .err()
            .unwrap();
        assert!(err.to_string().contains("mesa serve"), "{err}");
        drop(first);
        assert!(DataDirLock::acquire(dir.path(), "mesa replay").is_ok());
    }
}
