//! The bad-input corpus: one directory per case under `tests/corpus/`, each holding the host
//! files (`root/…`, copied under a fresh `--root`) and an `expect` file. Every case must end
//! with the SPEC exit code, exactly one `error:` line that names the file (and the key or
//! line where there is one), the same message in the JSON report, and every host file
//! byte-identical afterwards (contents, type, mode and symlink targets; `/run` excluded).
//!
//! `expect` lines (`#` starts a comment):
//!
//! | line | meaning |
//! |---|---|
//! | `exit N` | the exit code (required) |
//! | `error TEXT` | TEXT must be in the one error line (repeatable, at least one) |
//! | `args A B …` | command line after `--root` (default `--issuer-url <ARC> apply`), split on spaces |
//! | `env K=V` | extra environment variable (repeatable) |
//! | `setup no-unit` | do not add the default `k3s.service` unit file |
//! | `setup mkfifo PATH` | a FIFO at host PATH (git cannot hold one) |
//! | `setup fill PATH BYTES` | a YAML file of exactly BYTES bytes of comments + `node-name` |
//! | `setup nest PATH DEPTH` | `a: ` followed by DEPTH `[`: nesting past any sane parser limit |
//! | `setup chmod MODE PATH` | octal mode for a host path (after the copy) |
//! | `setup unprivileged` | run aio-prep as uid/gid 65534 with `setpriv`: root ignores mode bits, so this is how a file aio-prep cannot read is made |
//!
//! A case without its own `root/etc/systemd/system/k3s.service` gets a plain k3s server unit.

mod common;

use std::fs;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{ARC, K3S_UNIT};

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/corpus");
const NOBODY: u32 = 65534;

#[derive(Debug, Default)]
struct Case {
    name: String,
    dir: PathBuf,
    exit: Option<i32>,
    errors: Vec<String>,
    args: Option<Vec<String>>,
    env: Vec<(String, String)>,
    setup: Vec<Vec<String>>,
}

impl Case {
    fn load(dir: &Path) -> Case {
        let name = dir
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        let text = fs::read_to_string(dir.join("expect"))
            .unwrap_or_else(|e| panic!("{name}: cannot read expect: {e}"));
        let mut case = Case {
            name: name.clone(),
            dir: dir.to_path_buf(),
            ..Case::default()
        };
        for line in text.lines() {
            let line = line.trim_end();
            if line.trim().is_empty() || line.trim_start().starts_with('#') {
                continue;
            }
            let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
            match word {
                "exit" => case.exit = Some(rest.trim().parse().expect("exit code")),
                "error" => case.errors.push(rest.to_string()),
                "args" => {
                    case.args = Some(rest.split(' ').map(|s| s.replace("<ARC>", ARC)).collect())
                }
                "env" => {
                    let (k, v) = rest.split_once('=').expect("env K=V");
                    case.env.push((k.to_string(), v.to_string()));
                }
                "setup" => case.setup.push(rest.split(' ').map(String::from).collect()),
                other => panic!("{name}: unknown expect line {other:?}"),
            }
        }
        assert!(case.exit.is_some(), "{name}: expect has no exit line");
        assert!(!case.errors.is_empty(), "{name}: expect has no error line");
        case
    }

    fn has(&self, directive: &str) -> bool {
        self.setup.iter().any(|s| s[0] == directive)
    }
}

fn host(root: &Path, p: &str) -> PathBuf {
    root.join(p.trim_start_matches('/'))
}

/// Copies `from` into `to`, keeping symlinks as symlinks (their targets verbatim).
fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("mkdir");
    for e in fs::read_dir(from).expect("read case dir") {
        let e = e.expect("entry");
        let src = e.path();
        let dst = to.join(e.file_name());
        let ft = e.file_type().expect("type");
        if ft.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(&src).expect("readlink"), &dst)
                .expect("symlink");
        } else if ft.is_dir() {
            copy_tree(&src, &dst);
        } else if e.file_name() == ".keep" {
            // Git holds no empty directories; `.keep` only makes its directory exist.
        } else {
            fs::copy(&src, &dst).expect("copy");
        }
    }
}

/// Everything under the root except `/run`: path, type, mode, and bytes or link target.
fn snapshot(root: &Path) -> Vec<(PathBuf, String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    let run = root.join("run");
    while let Some(d) = stack.pop() {
        let Ok(entries) = fs::read_dir(&d) else {
            out.push((d.clone(), "unlistable".into(), Vec::new()));
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p == run {
                continue;
            }
            let meta = fs::symlink_metadata(&p).expect("meta");
            let ft = meta.file_type();
            let mode = meta.permissions().mode() & 0o7777;
            let (kind, bytes) = if ft.is_symlink() {
                (
                    "symlink".to_string(),
                    fs::read_link(&p)
                        .expect("readlink")
                        .into_os_string()
                        .into_encoded_bytes(),
                )
            } else if ft.is_dir() {
                stack.push(p.clone());
                (format!("dir {mode:o}"), Vec::new())
            } else if ft.is_file() {
                (format!("file {mode:o}"), fs::read(&p).expect("read"))
            } else if ft.is_fifo() {
                (format!("fifo {mode:o}"), Vec::new())
            } else {
                (format!("other {mode:o}"), Vec::new())
            };
            out.push((p, kind, bytes));
        }
    }
    out.sort();
    out
}

fn set_up(case: &Case, root: &Path) {
    let files = case.dir.join("root");
    if files.exists() {
        copy_tree(&files, root);
    }
    let unit = host(root, "/etc/systemd/system/k3s.service");
    if !case.has("no-unit") && fs::symlink_metadata(&unit).is_err() {
        fs::create_dir_all(unit.parent().expect("dir")).expect("mkdir");
        fs::write(&unit, K3S_UNIT).expect("unit");
    }
    for s in &case.setup {
        let parent = |p: &Path| fs::create_dir_all(p.parent().expect("dir")).expect("mkdir");
        match s[0].as_str() {
            "no-unit" | "unprivileged" => {}
            "mkfifo" => {
                let p = host(root, &s[1]);
                parent(&p);
                let ok = Command::new("mkfifo")
                    .arg(&p)
                    .status()
                    .expect("mkfifo")
                    .success();
                assert!(ok, "{}: mkfifo", case.name);
            }
            "fill" => {
                let p = host(root, &s[1]);
                parent(&p);
                let size: usize = s[2].parse().expect("bytes");
                let tail = "node-name: big\n";
                let mut text = String::with_capacity(size);
                let line = format!("# {}\n", "x".repeat(77));
                while text.len() + line.len() + tail.len() <= size {
                    text.push_str(&line);
                }
                let pad = size - text.len() - tail.len();
                if pad > 0 {
                    text.push('#');
                    text.push_str(&" ".repeat(pad.saturating_sub(2)));
                    if pad >= 2 {
                        text.push('\n');
                    }
                }
                text.push_str(tail);
                assert_eq!(text.len(), size);
                fs::write(&p, text).expect("fill");
            }
            "nest" => {
                let p = host(root, &s[1]);
                parent(&p);
                let depth: usize = s[2].parse().expect("depth");
                fs::write(&p, format!("a: {}\n", "[".repeat(depth))).expect("nest");
            }
            "chmod" => {
                let mode = u32::from_str_radix(&s[1], 8).expect("octal mode");
                fs::set_permissions(host(root, &s[2]), fs::Permissions::from_mode(mode))
                    .expect("chmod");
            }
            other => panic!("{}: unknown setup {other:?}", case.name),
        }
    }
    if case.has("unprivileged") {
        // Everything readable by the unprivileged user except what the case chmods; the
        // lock directory writable so `apply` gets as far as reading host files.
        let run = host(root, "/run/aio-prep");
        fs::create_dir_all(&run).expect("mkdir run");
        fs::set_permissions(&run, fs::Permissions::from_mode(0o777)).expect("chmod run");
        fs::set_permissions(root, fs::Permissions::from_mode(0o755)).expect("chmod root");
    }
}

struct Outcome {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(case: &Case, root: &Path, json: bool) -> Outcome {
    let bin = env!("CARGO_BIN_EXE_aio-prep");
    let mut cmd = if case.has("unprivileged") {
        let mut c = Command::new("setpriv");
        c.args([
            format!("--reuid={NOBODY}"),
            format!("--regid={NOBODY}"),
            "--clear-groups".into(),
            "--".into(),
            bin.into(),
        ]);
        c
    } else {
        Command::new(bin)
    };
    cmd.arg("--root").arg(root);
    if json {
        cmd.args(["--output", "json"]);
    }
    match &case.args {
        Some(a) => cmd.args(a),
        None => cmd.args(["--issuer-url", ARC, "apply"]),
    };
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env(
            "DBUS_SYSTEM_BUS_ADDRESS",
            "unix:path=/nonexistent/aio-prep-test-bus",
        );
    for (k, v) in &case.env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run aio-prep");
    Outcome {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Checks one case; returns the problems found (empty: the case passed).
fn check(case: &Case) -> Vec<String> {
    let mut problems = Vec::new();
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path();
    set_up(case, root);
    let before = snapshot(root);
    let want = case.exit.expect("exit");

    let r = run(case, root, false);
    if r.code != want {
        problems.push(format!(
            "exit {} (want {want})\nstdout: {}\nstderr: {}",
            r.code, r.stdout, r.stderr
        ));
    }
    let lines: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| l.starts_with("error: "))
        .collect();
    match lines.as_slice() {
        [line] => {
            for e in &case.errors {
                if !line.contains(e.as_str()) {
                    problems.push(format!("error line {line:?} lacks {e:?}"));
                }
            }
        }
        _ => problems.push(format!(
            "{} error lines (want 1); stderr: {}",
            lines.len(),
            r.stderr
        )),
    }
    if snapshot(root) != before {
        problems.push("host files changed".into());
    }

    let r = run(case, root, true);
    if r.code != want {
        problems.push(format!("JSON run: exit {} (want {want})", r.code));
    }
    match serde_json::from_str::<serde_json::Value>(&r.stdout) {
        Ok(j) => {
            let msg = j["error"]["message"].as_str().unwrap_or("");
            if j["outcome"] != "failed" {
                problems.push(format!("JSON outcome {} (want failed)", j["outcome"]));
            }
            if msg.contains('\n') {
                problems.push(format!("JSON error message has a newline: {msg:?}"));
            }
            for e in &case.errors {
                if !msg.contains(e.as_str()) {
                    problems.push(format!("JSON error {msg:?} lacks {e:?}"));
                }
            }
        }
        Err(e) => problems.push(format!("JSON run: stdout is not JSON ({e}): {}", r.stdout)),
    }
    if snapshot(root) != before {
        problems.push("host files changed (JSON run)".into());
    }
    problems
}

fn cases() -> Vec<Case> {
    let mut dirs: Vec<PathBuf> = fs::read_dir(CORPUS)
        .expect("tests/corpus")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs.iter().map(|d| Case::load(d)).collect()
}

#[test]
fn every_bad_input_is_refused_cleanly_and_changes_nothing() {
    let cases = cases();
    assert!(cases.len() >= 40, "only {} cases", cases.len());
    let only = std::env::var("AIO_PREP_CORPUS_CASE").ok();
    let mut failed = Vec::new();
    let mut ran = 0;
    for case in &cases {
        if only.as_deref().is_some_and(|o| !case.name.contains(o)) {
            continue;
        }
        ran += 1;
        let problems = check(case);
        if !problems.is_empty() {
            failed.push(format!("{}:\n  {}", case.name, problems.join("\n  ")));
        }
    }
    let (n2, n4) = (
        cases.iter().filter(|c| c.exit == Some(2)).count(),
        cases.iter().filter(|c| c.exit == Some(4)).count(),
    );
    eprintln!("corpus: {ran} cases run ({n2} exit 2, {n4} exit 4 in the corpus)");
    assert!(
        failed.is_empty(),
        "{} of {ran} cases failed:\n{}",
        failed.len(),
        failed.join("\n")
    );
}
