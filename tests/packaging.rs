//! The packaged default `/etc/aio-prep/config.toml` (packaging/config.toml): it parses, it
//! sets nothing (every key commented out, so the built-in defaults apply), it documents
//! every key of the registry with its default, its documented values are valid when
//! uncommented, and `config set` works on it keeping its comments.

use std::path::{Path, PathBuf};
use std::process::Command;

use aio_prep::config::{KeyType, KEYS};

const PACKAGED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/packaging/config.toml");

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs aio-prep with a clean environment (no AIO_PREP_* or AZURE_* leaking in).
fn aio_prep(root: &Path, args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_aio-prep"))
        .env_clear()
        .arg("--root")
        .arg(root)
        .args(args)
        .output()
        .expect("run aio-prep");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn packaged_text() -> String {
    std::fs::read_to_string(PACKAGED).expect("read packaging/config.toml")
}

/// `(table, line)` for every line of a TOML text, `table` being the last `[header]` seen.
fn lines_by_table(text: &str) -> Vec<(String, String)> {
    let mut table = String::new();
    let mut out = Vec::new();
    for line in text.lines() {
        let t = line.trim();
        if let Some(h) = t.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            table = h.trim().to_string();
        }
        out.push((table.clone(), line.to_string()));
    }
    out
}

/// The line `config show` prints for `key` (`leaf = value  # origin`), under its table.
fn show_line<'a>(show: &'a str, key: &str) -> Option<&'a str> {
    let (table, leaf) = key.rsplit_once('.').expect("dotted key");
    let mut current = "";
    for line in show.lines() {
        if let Some(h) = line.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            current = h;
        } else if current == table && line.starts_with(&format!("{leaf} = ")) {
            return Some(line);
        }
    }
    None
}

fn default_rendered(ty: KeyType, default: &str) -> String {
    match ty {
        KeyType::Bool => default.to_string(),
        _ => format!("\"{default}\""),
    }
}

fn temp_copy(text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("config.toml");
    std::fs::write(&file, text).expect("write copy");
    (dir, file)
}

#[test]
fn packaged_config_parses_and_sets_nothing() {
    let root = tempfile::tempdir().expect("tempdir");
    let r = aio_prep(root.path(), &["--config", PACKAGED, "config", "show"]);
    assert_eq!(r.code, 0, "config show failed: {}", r.stderr);
    for spec in KEYS {
        match spec.default {
            Some(_) => {
                let line = show_line(&r.stdout, spec.name)
                    .unwrap_or_else(|| panic!("{} missing from:\n{}", spec.name, r.stdout));
                assert!(line.ends_with("# default"), "{} is set: {line}", spec.name);
            }
            None => assert!(
                show_line(&r.stdout, spec.name).is_none(),
                "{} is set by the packaged config:\n{}",
                spec.name,
                r.stdout
            ),
        }
    }
    assert!(!r.stdout.contains("config.toml:"), "{}", r.stdout);
}

#[test]
fn packaged_config_documents_every_key_with_its_default() {
    let lines = lines_by_table(&packaged_text());
    for spec in KEYS {
        let (table, leaf) = spec.name.rsplit_once('.').expect("dotted key");
        let prefix = format!("# {leaf} = ");
        let found: Vec<&String> = lines
            .iter()
            .filter(|(t, l)| t == table && l.starts_with(&prefix))
            .map(|(_, l)| l)
            .collect();
        assert_eq!(
            found.len(),
            1,
            "{}: expected one commented `{prefix}…` line under [{table}]",
            spec.name
        );
        if let Some(d) = spec.default {
            let want = format!("{prefix}{}", default_rendered(spec.ty, d));
            assert_eq!(found[0], &want, "{}: default not shown", spec.name);
        }
    }
    for (table, line) in &lines {
        let t = line.trim_start();
        assert!(
            t.is_empty() || t.starts_with('#') || t.starts_with('['),
            "[{table}] has an active setting: {line}"
        );
    }
}

/// Uncommenting every documented assignment gives a valid file that sets every key.
#[test]
fn uncommented_examples_are_valid_values() {
    let mut text = String::new();
    let mut uncommented = 0;
    for (table, line) in lines_by_table(&packaged_text()) {
        let candidate = line.strip_prefix("# ").unwrap_or("");
        let is_key = KEYS.iter().any(|s| {
            s.name
                .rsplit_once('.')
                .is_some_and(|(t, leaf)| t == table && candidate.starts_with(&format!("{leaf} = ")))
        });
        if is_key {
            text.push_str(candidate);
            uncommented += 1;
        } else {
            text.push_str(&line);
        }
        text.push('\n');
    }
    assert_eq!(uncommented, KEYS.len());
    let (dir, file) = temp_copy(&text);
    let r = aio_prep(
        dir.path(),
        &[
            "--config",
            file.to_str().expect("utf-8 path"),
            "config",
            "show",
        ],
    );
    assert_eq!(r.code, 0, "{}\n{text}", r.stderr);
    for spec in KEYS {
        let line = show_line(&r.stdout, spec.name)
            .unwrap_or_else(|| panic!("{} not shown:\n{}", spec.name, r.stdout));
        assert!(line.contains("config.toml:"), "{}: {line}", spec.name);
        if let Some(d) = spec.default {
            let want = format!("= {}  #", default_rendered(spec.ty, d));
            assert!(line.contains(&want), "{}: {line}", spec.name);
        }
    }
}

#[test]
fn config_set_on_the_packaged_config_keeps_its_comments() {
    let original = packaged_text();
    let (dir, file) = temp_copy(&original);
    let path = file.to_str().expect("utf-8 path");
    for (key, value) in [
        ("k3s.target", "dropin"),
        ("issuer.url", "https://example.invalid/issuer/"),
        ("azure.auth.method", "arc-identity"),
    ] {
        let r = aio_prep(dir.path(), &["--config", path, "config", "set", key, value]);
        assert_eq!(r.code, 0, "config set {key}: {}", r.stderr);
    }
    let edited = std::fs::read_to_string(&file).expect("read edited");
    for line in original.lines().filter(|l| l.starts_with('#')) {
        assert!(edited.contains(line), "comment lost: {line}");
    }
    let lines = lines_by_table(&edited);
    for (table, want) in [
        ("k3s", "target = \"dropin\""),
        ("issuer", "url = \"https://example.invalid/issuer/\""),
        ("azure.auth", "method = \"arc-identity\""),
    ] {
        assert!(
            lines.iter().any(|(t, l)| t == table && l == want),
            "`{want}` not under [{table}]:\n{edited}"
        );
    }
    let r = aio_prep(dir.path(), &["--config", path, "config", "show"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let target = show_line(&r.stdout, "k3s.target").expect("k3s.target shown");
    assert!(target.starts_with("target = \"dropin\"  # "), "{target}");
    assert!(target.contains("config.toml:"), "{target}");
}
