//! Atomic file writes: temp file in the same directory, mode set, fsync,
//! rename — so a reader (aio-prep verifying, a test) never sees half a file.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

pub fn write_atomic(path: &Path, contents: &[u8], mode: u32) -> Result<(), String> {
    let fail = |what: &str, e: std::io::Error| format!("{what} {}: {e}", path.display());
    let dir = path
        .parent()
        .ok_or_else(|| format!("{} has no parent directory", path.display()))?;
    std::fs::create_dir_all(dir).map_err(|e| fail("cannot create the directory of", e))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        file.write_all(contents)?;
        file.set_permissions(std::fs::Permissions::from_mode(mode))?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(fail("cannot write", e));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn writes_with_mode() {
        let dir = std::env::temp_dir().join(format!("k3s-standin-files-{}", std::process::id()));
        let path = dir.join("a/b.txt");
        write_atomic(&path, b"hello", 0o640).expect("write");
        assert_eq!(std::fs::read(&path).expect("read"), b"hello");
        assert_eq!(
            std::fs::metadata(&path).expect("meta").mode() & 0o7777,
            0o640
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}
