//! Short stderr lines, journal style: systemd adds the timestamp and unit.

use std::fmt::Display;
use std::io::Write;

fn line(level: &str, msg: &dyn Display) {
    // A closed stderr must not take the process down.
    let _ = writeln!(std::io::stderr().lock(), "{level} {msg}");
}

pub fn info(msg: impl Display) {
    line("INFO", &msg);
}

pub fn warn(msg: impl Display) {
    line("WARN", &msg);
}

pub fn error(msg: impl Display) {
    line("ERROR", &msg);
}
