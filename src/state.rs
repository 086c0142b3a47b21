//! aio-prep's own state (SPEC §6): backups of every file before it is written (newest 10
//! kept, 0600 in a 0700 directory — they may hold k3s tokens) and the record of the last
//! apply, which `rollback` uses.

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::ErrorKind;
use crate::hostfile::{self, HostFileError, Ownership};
use crate::paths::{HostRoot, STATE_DIR};

pub const KEEP_BACKUPS: usize = 10;

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error(transparent)]
    File(#[from] HostFileError),
    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: unreadable record ({message})")]
    Corrupt { path: PathBuf, message: String },
}

impl StateError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            StateError::Corrupt { .. } => ErrorKind::InvalidInput,
            _ => ErrorKind::Internal,
        }
    }
}

/// What the last apply changed: enough to put it back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastApply {
    /// Host path of the file written.
    pub target: PathBuf,
    /// Backup file name in the backups dir; `None`: the file did not exist before.
    pub backup: Option<String>,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub at: String,
}

pub struct StateDir {
    dir: PathBuf,
}

impl StateDir {
    pub fn new(root: &HostRoot) -> StateDir {
        StateDir {
            dir: root.resolve(STATE_DIR),
        }
    }

    pub fn backups_dir(&self) -> PathBuf {
        self.dir.join("backups")
    }

    fn record_path(&self) -> PathBuf {
        self.dir.join("last-apply.json")
    }

    fn ensure_dirs(&self) -> Result<(), StateError> {
        for d in [&self.dir, &self.backups_dir()] {
            fs::create_dir_all(d).map_err(|source| StateError::Io {
                action: "create",
                path: d.clone(),
                source,
            })?;
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(d, fs::Permissions::from_mode(0o700)).map_err(|source| {
                StateError::Io {
                    action: "chmod",
                    path: d.clone(),
                    source,
                }
            })?;
        }
        Ok(())
    }

    /// Saves the current contents of `target` (or notes that it does not exist) and records
    /// the apply about to happen. Call before writing the target.
    pub fn save_before_write(
        &self,
        target: &Path,
        current: Option<&hostfile::HostFile>,
    ) -> Result<LastApply, StateError> {
        self.ensure_dirs()?;
        // A run killed while writing a backup or the record left its temp file here; the
        // caller holds the run lock, so no other run is writing one now.
        hostfile::clean_stale_temps(&self.backups_dir());
        hostfile::clean_stale_temps(&self.dir);
        let at = timestamp();
        let backup = match current {
            Some(file) => {
                let base = target
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let name = format!("{base}.{at}.bak");
                hostfile::atomic_write(
                    &self.backups_dir().join(&name),
                    file.text.as_bytes(),
                    Ownership::private(),
                )?;
                Some(name)
            }
            None => None,
        };
        let record = LastApply {
            target: target.to_path_buf(),
            backup,
            mode: current.map_or(0o600, |f| f.mode),
            uid: current.map_or(0, |f| f.uid),
            gid: current.map_or(0, |f| f.gid),
            at,
        };
        let json = serde_json::to_vec_pretty(&record).map_err(|e| StateError::Corrupt {
            path: self.record_path(),
            message: e.to_string(),
        })?;
        hostfile::atomic_write(&self.record_path(), &json, Ownership::private())?;
        self.prune()?;
        Ok(record)
    }

    pub fn last_apply(&self) -> Result<Option<LastApply>, StateError> {
        let path = self.record_path();
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(StateError::Io {
                    action: "read",
                    path,
                    source,
                })
            }
        };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| StateError::Corrupt {
                path,
                message: e.to_string(),
            })
    }

    pub fn backup_text(&self, record: &LastApply) -> Result<Option<String>, StateError> {
        let Some(name) = &record.backup else {
            return Ok(None);
        };
        let path = self.backups_dir().join(name);
        fs::read_to_string(&path)
            .map(Some)
            .map_err(|source| StateError::Io {
                action: "read backup",
                path,
                source,
            })
    }

    pub fn clear_last_apply(&self) -> Result<(), StateError> {
        Ok(hostfile::remove_durably(&self.record_path())?)
    }

    /// Keeps the newest `KEEP_BACKUPS` backups (names sort by time).
    fn prune(&self) -> Result<(), StateError> {
        let dir = self.backups_dir();
        let mut names: Vec<String> = fs::read_dir(&dir)
            .map_err(|source| StateError::Io {
                action: "list",
                path: dir.clone(),
                source,
            })?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".bak"))
            .collect();
        names.sort_by(|a, b| backup_time(a).cmp(backup_time(b)).then(a.cmp(b)));
        let excess = names.len().saturating_sub(KEEP_BACKUPS);
        for name in names.into_iter().take(excess) {
            let _ = fs::remove_file(dir.join(name));
        }
        Ok(())
    }
}

/// The timestamp part of a backup name `<file>.<timestamp>.bak` (timestamps are fixed
/// width, so they sort as text across different file names).
fn backup_time(name: &str) -> &str {
    let stem = name.strip_suffix(".bak").unwrap_or(name);
    stem.get(stem.len().saturating_sub(TIMESTAMP_LEN)..)
        .unwrap_or(stem)
}

const TIMESTAMP_LEN: usize = "20261123T190102.123456789Z".len();

/// UTC timestamp that sorts as text: `20261123T190102.123456789Z`.
pub fn timestamp() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}.{:09}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        now.subsec_nanos()
    )
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian (Howard Hinnant's method).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_780), (2026, 11, 23));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }

    #[test]
    fn temp_files_of_a_killed_run_are_removed_by_the_next_save() {
        let dir = tempfile::tempdir().expect("tmp");
        let state = StateDir::new(&HostRoot::new(dir.path()));
        state.ensure_dirs().expect("dirs");
        let stale = [
            state
                .backups_dir()
                .join(".aio-prep-tmp-99-config.yaml.20261123T200653.372230213Z.bak.tmp"),
            state.dir.join(".aio-prep-tmp-99-last-apply.json.tmp"),
        ];
        for p in &stale {
            fs::write(p, "token: x\n").expect("write");
        }
        state
            .save_before_write(Path::new("/etc/rancher/k3s/config.yaml"), None)
            .expect("save");
        for p in &stale {
            assert!(!p.exists(), "{} left", p.display());
        }
    }

    #[test]
    fn backups_are_private_and_pruned_to_ten() {
        let dir = tempfile::tempdir().expect("tmp");
        let root = HostRoot::new(dir.path());
        let state = StateDir::new(&root);
        let file = hostfile::HostFile {
            path: "/c.yaml".into(),
            real_path: "/c.yaml".into(),
            text: "token: x\n".into(),
            mode: 0o644,
            uid: 0,
            gid: 0,
        };
        let mut names = Vec::new();
        for i in 0..12 {
            let target = if i % 2 == 0 {
                "/etc/rancher/k3s/config.yaml"
            } else {
                "/etc/rancher/k3s/config.yaml.d/90-aio-prep.yaml"
            };
            names.push(
                state
                    .save_before_write(Path::new(target), Some(&file))
                    .expect("save")
                    .backup
                    .expect("name"),
            );
        }
        let mut kept: Vec<String> = fs::read_dir(state.backups_dir())
            .expect("ls")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        kept.sort_by(|a, b| backup_time(a).cmp(backup_time(b)));
        assert_eq!(kept.len(), KEEP_BACKUPS);
        assert_eq!(
            kept,
            names[names.len() - KEEP_BACKUPS..],
            "the newest ten survive"
        );
        use std::os::unix::fs::PermissionsExt;
        let rec = state.last_apply().expect("read").expect("some");
        let p = state
            .backups_dir()
            .join(rec.backup.clone().expect("backup"));
        assert_eq!(
            fs::metadata(&p).expect("meta").permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            fs::metadata(state.backups_dir())
                .expect("meta")
                .permissions()
                .mode()
                & 0o777,
            0o700
        );
        assert_eq!(
            state.backup_text(&rec).expect("text").as_deref(),
            Some("token: x\n")
        );
        assert_eq!(rec.mode, 0o644);
    }
}
