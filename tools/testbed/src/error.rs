//! The one error type of the harness. Every variant says what it was doing and on what
//! (path, command, unit) and carries the tail of the relevant log, so a failing test
//! explains itself without re-running it with `TESTBED_KEEP=1`.

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::time::Duration;

/// Why a testbed could not be started, inspected or torn down.
///
/// `Debug` prints the same text as `Display`, so `.unwrap()`/`.expect()` in a test shows the
/// readable message with its log tails.
pub enum TestbedError {
    /// A file or directory operation failed.
    Io {
        action: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    /// A helper program (unshare, systemctl, busctl, ...) could not be run at all.
    Spawn { command: String, source: io::Error },
    /// A helper program ran and failed, or did not finish in time.
    Command {
        command: String,
        status: String,
        stderr_tail: String,
    },
    /// The systemd user manager exited or did not answer on its bus in time.
    ManagerNotReady {
        reason: String,
        waited: Duration,
        log_tail: String,
    },
    /// The k3s unit did not become active.
    UnitStart {
        unit: String,
        state: String,
        detail: String,
    },
    /// The k3s stand-in binary could not be found.
    StandinNotFound { searched: Vec<PathBuf> },
    /// The options (or a state file written by `testbed up`) make no sense.
    Invalid(String),
}

impl TestbedError {
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        TestbedError::Io {
            action,
            path: path.into(),
            source,
        }
    }
}

impl fmt::Display for TestbedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TestbedError::Io {
                action,
                path,
                source,
            } => write!(f, "cannot {action} {}: {source}", path.display()),
            TestbedError::Spawn { command, source } => {
                write!(f, "cannot run `{command}`: {source}")
            }
            TestbedError::Command {
                command,
                status,
                stderr_tail,
            } => {
                write!(f, "`{command}` failed ({status})")?;
                write_tail(f, "output", stderr_tail)
            }
            TestbedError::ManagerNotReady {
                reason,
                waited,
                log_tail,
            } => {
                write!(
                    f,
                    "systemd user manager not ready after {:.1}s: {reason}",
                    waited.as_secs_f64()
                )?;
                write_tail(f, "manager log", log_tail)
            }
            TestbedError::UnitStart {
                unit,
                state,
                detail,
            } => {
                write!(f, "unit {unit} did not become active (state {state})")?;
                write_tail(f, "details", detail)
            }
            TestbedError::StandinNotFound { searched } => {
                write!(f, "k3s-standin binary not found; looked at ")?;
                for (i, p) in searched.iter().enumerate() {
                    let sep = if i == 0 { "" } else { ", " };
                    write!(f, "{sep}{}", p.display())?;
                }
                write!(
                    f,
                    ". Run `cargo build --workspace` first, or set K3S_STANDIN_BIN"
                )
            }
            TestbedError::Invalid(msg) => f.write_str(msg),
        }
    }
}

impl fmt::Debug for TestbedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

fn write_tail(f: &mut fmt::Formatter<'_>, what: &str, tail: &str) -> fmt::Result {
    let tail = tail.trim_end();
    if tail.is_empty() {
        Ok(())
    } else {
        write!(f, "\n--- {what} (tail) ---\n{tail}")
    }
}

impl std::error::Error for TestbedError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TestbedError::Io { source, .. } | TestbedError::Spawn { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// The last `max_lines` lines of `text`: enough to explain a failure, short enough to read.
pub(crate) fn tail(text: &str, max_lines: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(max_lines);
    lines[start..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_last_lines() {
        assert_eq!(tail("a\nb\nc\n", 2), "b\nc");
        assert_eq!(tail("a", 5), "a");
        assert_eq!(tail("", 5), "");
    }

    #[test]
    fn display_names_path_and_hint() {
        let e = TestbedError::StandinNotFound {
            searched: vec!["/a/k3s-standin".into(), "/b/k3s-standin".into()],
        };
        let s = e.to_string();
        assert!(s.contains("/a/k3s-standin, /b/k3s-standin"), "{s}");
        assert!(s.contains("cargo build --workspace"), "{s}");
    }
}
