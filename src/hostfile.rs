//! Reading and writing host files safely: the guards of SPEC §6 (no symlink leaving the
//! directory, regular files only, at most 1 MiB, UTF-8) and the one atomic write helper
//! (temp file in the same directory, same owner and mode, fsync, rename, fsync directory).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

pub const MAX_FILE_BYTES: u64 = 1024 * 1024;
/// Prefix of aio-prep's temp files. They never end in `.yaml`/`.yml`, so k3s, which reads
/// every `*.yaml` in a drop-in directory, never reads a half-written one.
pub const TEMP_PREFIX: &str = ".aio-prep-tmp-";

#[derive(Debug, thiserror::Error)]
pub enum HostFileError {
    #[error("{path} is a symlink to {target}, outside {dir}; refusing to follow it")]
    SymlinkEscapes {
        path: PathBuf,
        target: PathBuf,
        dir: PathBuf,
    },
    #[error("{path} is not a regular file ({what})")]
    NotRegular { path: PathBuf, what: &'static str },
    #[error("{path} is a symlink that cannot be resolved: {source}")]
    BadSymlink {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path} is {size} bytes; files over 1 MiB are refused")]
    TooLarge { path: PathBuf, size: u64 },
    #[error("{path} is not valid UTF-8 (byte {at})")]
    NotUtf8 { path: PathBuf, at: usize },
    #[error("{path} starts with a UTF-8 byte-order mark; remove it")]
    ByteOrderMark { path: PathBuf },
    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

impl HostFileError {
    fn io(action: &'static str, path: &Path, source: io::Error) -> Self {
        HostFileError::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }

    /// Whether this is the operator's input being wrong (exit 2) rather than the machine.
    pub fn is_input_error(&self) -> bool {
        match self {
            // A file where a directory belongs (`config.yaml.d` as a file, `/etc/rancher/k3s`
            // as a file) is the operator's layout, not the machine failing.
            HostFileError::Io { source, .. } => matches!(
                source.kind(),
                io::ErrorKind::PermissionDenied
                    | io::ErrorKind::IsADirectory
                    | io::ErrorKind::NotADirectory
                    | io::ErrorKind::InvalidData
            ),
            _ => true,
        }
    }
}

/// A host file as read: where it really lives (symlinks inside its directory resolved),
/// its text, and its metadata (for owner/mode on rewrite).
#[derive(Debug, Clone)]
pub struct HostFile {
    pub path: PathBuf,
    pub real_path: PathBuf,
    pub text: String,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// Resolves `path` if it is a symlink, refusing one whose target leaves `path`'s directory.
/// Returns `None` when nothing exists at `path`.
pub fn resolve_in_dir(path: &Path) -> Result<Option<PathBuf>, HostFileError> {
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(HostFileError::io("inspect", path, e)),
    };
    if !meta.file_type().is_symlink() {
        return Ok(Some(path.to_path_buf()));
    }
    let dir = path.parent().unwrap_or(Path::new("/"));
    let dir_real = fs::canonicalize(dir).map_err(|e| HostFileError::io("resolve", dir, e))?;
    let target = match fs::canonicalize(path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let link = fs::read_link(path).map_err(|e| HostFileError::io("read link", path, e))?;
            return Err(HostFileError::NotRegular {
                path: path.to_path_buf(),
                what: if link.is_absolute() || link.components().count() > 0 {
                    "dangling symlink"
                } else {
                    "symlink"
                },
            });
        }
        // A loop, a target through a file, a name too long: the link is the operator's.
        Err(e) => {
            return Err(HostFileError::BadSymlink {
                path: path.to_path_buf(),
                source: e,
            })
        }
    };
    if target.parent() != Some(dir_real.as_path()) {
        return Err(HostFileError::SymlinkEscapes {
            path: path.to_path_buf(),
            target,
            dir: dir_real,
        });
    }
    Ok(Some(target))
}

/// Reads a host text file through the guards. `Ok(None)` when it does not exist.
pub fn read_guarded(path: &Path) -> Result<Option<HostFile>, HostFileError> {
    let Some(real_path) = resolve_in_dir(path)? else {
        return Ok(None);
    };
    let meta = fs::metadata(&real_path).map_err(|e| HostFileError::io("inspect", path, e))?;
    let ft = meta.file_type();
    if !ft.is_file() {
        let what = if ft.is_dir() {
            "a directory"
        } else {
            "a special file"
        };
        return Err(HostFileError::NotRegular {
            path: path.to_path_buf(),
            what,
        });
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(HostFileError::TooLarge {
            path: path.to_path_buf(),
            size: meta.len(),
        });
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    File::open(&real_path)
        .and_then(|f| f.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes))
        .map_err(|e| HostFileError::io("read", path, e))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(HostFileError::TooLarge {
            path: path.to_path_buf(),
            size: bytes.len() as u64,
        });
    }
    if bytes.starts_with(b"\xEF\xBB\xBF") {
        return Err(HostFileError::ByteOrderMark {
            path: path.to_path_buf(),
        });
    }
    let text = String::from_utf8(bytes).map_err(|e| HostFileError::NotUtf8 {
        path: path.to_path_buf(),
        at: e.utf8_error().valid_up_to(),
    })?;
    Ok(Some(HostFile {
        path: path.to_path_buf(),
        real_path,
        text,
        mode: meta.permissions().mode() & 0o7777,
        uid: meta.uid(),
        gid: meta.gid(),
    }))
}

/// Owner and mode for a file being (re)written.
#[derive(Debug, Clone, Copy)]
pub struct Ownership {
    pub mode: u32,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
}

impl Ownership {
    pub fn of(file: &HostFile) -> Self {
        Ownership {
            mode: file.mode,
            uid: Some(file.uid),
            gid: Some(file.gid),
        }
    }

    pub fn private() -> Self {
        Ownership {
            mode: 0o600,
            uid: None,
            gid: None,
        }
    }
}

/// Replaces `path` atomically with `contents`: a reader sees the old bytes or the new
/// bytes, never a mix, at every instant including a crash.
pub fn atomic_write(path: &Path, contents: &[u8], owner: Ownership) -> Result<(), HostFileError> {
    let dir = path.parent().unwrap_or(Path::new("/"));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!("{TEMP_PREFIX}{}-{name}.tmp", std::process::id()));
    let result = write_temp_and_rename(&tmp, path, dir, contents, owner);
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

fn write_temp_and_rename(
    tmp: &Path,
    path: &Path,
    dir: &Path,
    contents: &[u8],
    owner: Ownership,
) -> Result<(), HostFileError> {
    let _ = fs::remove_file(tmp);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(tmp)
        .map_err(|e| HostFileError::io("create temp file in", dir, e))?;
    if owner.uid.is_some() || owner.gid.is_some() {
        std::os::unix::fs::fchown(&file, owner.uid, owner.gid)
            .map_err(|e| HostFileError::io("set owner of", tmp, e))?;
    }
    file.set_permissions(fs::Permissions::from_mode(owner.mode))
        .map_err(|e| HostFileError::io("set mode of", tmp, e))?;
    file.write_all(contents)
        .map_err(|e| HostFileError::io("write", tmp, e))?;
    file.sync_all()
        .map_err(|e| HostFileError::io("fsync", tmp, e))?;
    drop(file);
    fs::rename(tmp, path).map_err(|e| HostFileError::io("rename into place", path, e))?;
    sync_dir(dir)
}

/// fsync a directory so a rename or unlink in it survives a power cut.
pub fn sync_dir(dir: &Path) -> Result<(), HostFileError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| HostFileError::io("fsync directory", dir, e))
}

/// Removes `path` durably; a missing file is fine.
pub fn remove_durably(path: &Path) -> Result<(), HostFileError> {
    match fs::remove_file(path) {
        Ok(()) => sync_dir(path.parent().unwrap_or(Path::new("/"))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(HostFileError::io("remove", path, e)),
    }
}

/// Removes temp files an earlier, killed run left in `dir` (they never end in .yaml).
pub fn clean_stale_temps(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with(TEMP_PREFIX) {
            let _ = fs::remove_file(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_keeps_mode_and_leaves_no_temp() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("config.yaml");
        fs::write(&p, "a: 1\n").expect("write");
        fs::set_permissions(&p, fs::Permissions::from_mode(0o640)).expect("chmod");
        let f = read_guarded(&p).expect("read").expect("exists");
        atomic_write(&p, b"a: 2\n", Ownership::of(&f)).expect("write");
        assert_eq!(fs::read_to_string(&p).expect("read"), "a: 2\n");
        assert_eq!(
            fs::metadata(&p).expect("meta").permissions().mode() & 0o777,
            0o640
        );
        let names: Vec<_> = fs::read_dir(dir.path())
            .expect("ls")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names.len(), 1);
    }

    #[test]
    fn guards_refuse_bad_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let big = dir.path().join("big.yaml");
        fs::write(&big, vec![b'a'; (MAX_FILE_BYTES + 1) as usize]).expect("write");
        assert!(matches!(
            read_guarded(&big),
            Err(HostFileError::TooLarge { .. })
        ));
        let bin = dir.path().join("bin.yaml");
        fs::write(&bin, b"a: \xff\n").expect("write");
        assert!(matches!(
            read_guarded(&bin),
            Err(HostFileError::NotUtf8 { at: 3, .. })
        ));
        let bom = dir.path().join("bom.yaml");
        fs::write(&bom, b"\xEF\xBB\xBFa: 1\n").expect("write");
        assert!(matches!(
            read_guarded(&bom),
            Err(HostFileError::ByteOrderMark { .. })
        ));
        let sub = dir.path().join("sub.yaml");
        fs::create_dir(&sub).expect("mkdir");
        assert!(matches!(
            read_guarded(&sub),
            Err(HostFileError::NotRegular { .. })
        ));
        let outside = tempfile::tempdir().expect("tempdir");
        let target = outside.path().join("x.yaml");
        fs::write(&target, "a: 1\n").expect("write");
        let link = dir.path().join("link.yaml");
        std::os::unix::fs::symlink(&target, &link).expect("symlink");
        assert!(matches!(
            read_guarded(&link),
            Err(HostFileError::SymlinkEscapes { .. })
        ));
        assert!(read_guarded(&dir.path().join("missing.yaml"))
            .expect("ok")
            .is_none());
    }

    #[test]
    fn layout_mistakes_are_input_errors() {
        let dir = tempfile::tempdir().expect("tempdir");
        let looped = dir.path().join("config.yaml");
        std::os::unix::fs::symlink("config.yaml", &looped).expect("symlink");
        let e = read_guarded(&looped).expect_err("loop");
        assert!(matches!(e, HostFileError::BadSymlink { .. }), "{e}");
        assert!(e.is_input_error(), "{e}");
        let file = dir.path().join("k3s");
        fs::write(&file, "not a directory\n").expect("write");
        let e = read_guarded(&file.join("config.yaml")).expect_err("ENOTDIR");
        assert!(e.is_input_error(), "{e}");
    }

    #[test]
    fn symlink_inside_the_directory_is_followed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let real = dir.path().join("real.yaml");
        fs::write(&real, "a: 1\n").expect("write");
        let link = dir.path().join("config.yaml");
        std::os::unix::fs::symlink("real.yaml", &link).expect("symlink");
        let f = read_guarded(&link).expect("ok").expect("exists");
        assert_eq!(f.real_path, fs::canonicalize(&real).expect("canon"));
    }
}
