//! The run lock (SPEC §6): `flock` on /run/aio-prep/lock; a second run waits up to
//! `--lock-timeout`, then exits 8.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::ErrorKind;

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("another aio-prep run holds {path}; gave up after {waited:?}")]
    Busy { path: PathBuf, waited: Duration },
    #[error("cannot open lock file {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl LockError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            LockError::Busy { .. } => ErrorKind::Locked,
            LockError::Io { .. } => ErrorKind::Internal,
        }
    }
}

/// Held until dropped (the kernel releases it if the process dies).
#[derive(Debug)]
pub struct RunLock {
    _file: File,
}

pub fn acquire(
    path: &Path,
    timeout: Duration,
    mut on_wait: impl FnMut(),
) -> Result<RunLock, LockError> {
    let io = |source| LockError::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map_err(io)?;
    let started = Instant::now();
    let mut told = false;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(RunLock { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => {
                if !told {
                    on_wait();
                    told = true;
                }
                if started.elapsed() >= timeout {
                    return Err(LockError::Busy {
                        path: path.to_path_buf(),
                        waited: started.elapsed(),
                    });
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_holder_times_out() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("run/lock");
        let held = acquire(&p, Duration::ZERO, || {}).expect("first");
        let mut waited = false;
        let e = acquire(&p, Duration::from_millis(50), || waited = true).expect_err("busy");
        assert!(waited);
        assert_eq!(e.kind(), ErrorKind::Locked);
        drop(held);
        acquire(&p, Duration::ZERO, || {}).expect("free again");
    }
}
