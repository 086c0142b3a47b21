//! Small process helpers: run a command with a deadline, look at /proc, send SIGKILL.
//! Plain std (no libc): signals go through `kill(1)`, liveness through `/proc/<pid>/stat`.

use std::io::Read;
use std::process::{Child, Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::error::{tail, TestbedError};

/// How often the harness polls for a state change (manager ready, process gone, ...).
pub(crate) const POLL: Duration = Duration::from_millis(10);

/// `program arg arg ...` for error messages.
pub(crate) fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// Run `cmd` to completion, capturing stdout and stderr; kill it after `timeout`.
pub(crate) fn run(cmd: &mut Command, timeout: Duration) -> Result<Output, TestbedError> {
    let command = describe(cmd);
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| TestbedError::Spawn {
            command: command.clone(),
            source,
        })?;
    let out = child.stdout.take().map(drain);
    let err = child.stderr.take().map(drain);
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => thread::sleep(POLL),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                let stderr = err.map(join).unwrap_or_default();
                return Err(TestbedError::Command {
                    command,
                    status: format!("no answer within {:.1}s, killed", timeout.as_secs_f64()),
                    stderr_tail: tail(&String::from_utf8_lossy(&stderr), 20),
                });
            }
            Err(source) => return Err(TestbedError::Spawn { command, source }),
        }
    };
    Ok(Output {
        status,
        stdout: out.map(join).unwrap_or_default(),
        stderr: err.map(join).unwrap_or_default(),
    })
}

fn drain<R: Read + Send + 'static>(mut r: R) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        buf
    })
}

fn join(h: thread::JoinHandle<Vec<u8>>) -> Vec<u8> {
    h.join().unwrap_or_default()
}

/// True while `pid` exists and is not a zombie. A zombie has finished running; its parent
/// (PID 1 or the harness) reaps it.
pub(crate) fn pid_alive(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // Format: "pid (comm) S ...": comm may contain spaces and parentheses, so take the
    // state after the last ')'.
    match stat
        .rfind(')')
        .and_then(|i| stat[i + 1..].split_whitespace().next())
    {
        Some(state) => state != "Z" && state != "X",
        None => false,
    }
}

/// SIGKILL each pid (best effort: a pid that is already gone is not an error).
pub(crate) fn kill9(pids: &[u32]) {
    if pids.is_empty() {
        return;
    }
    let mut cmd = Command::new("kill");
    cmd.arg("-KILL");
    cmd.args(pids.iter().map(u32::to_string));
    let _ = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Wait until `child` exits or `timeout` passes; true when it exited (and is reaped).
pub(crate) fn wait_child(child: &mut Child, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => return true,
            Ok(None) if Instant::now() < deadline => thread::sleep(POLL),
            Ok(None) => return false,
            Err(_) => return true,
        }
    }
}

/// Wait until `pid` (not our child) is gone or a zombie, or `timeout` passes.
pub(crate) fn wait_gone(pid: u32, timeout: Duration) -> bool {
    wait_until(timeout, || !pid_alive(pid))
}

/// Poll `done` every [`POLL`] until it returns true or `timeout` passes.
pub(crate) fn wait_until(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(POLL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_captures_output() {
        let out = run(
            Command::new("sh").args(["-c", "echo out; echo err >&2"]),
            Duration::from_secs(5),
        )
        .unwrap();
        assert_eq!(out.stdout, b"out\n");
        assert_eq!(out.stderr, b"err\n");
    }

    #[test]
    fn run_kills_after_timeout() {
        let t = Instant::now();
        let err = run(
            Command::new("sh").args(["-c", "echo started >&2; exec sleep 30"]),
            Duration::from_millis(200),
        )
        .unwrap_err();
        assert!(t.elapsed() < Duration::from_secs(5));
        let s = err.to_string();
        assert!(s.contains("killed") && s.contains("started"), "{s}");
    }

    #[test]
    fn pid_alive_sees_self_and_not_nonsense() {
        assert!(pid_alive(std::process::id()));
        assert!(!pid_alive(u32::MAX));
    }
}
