//! Fault injection, read at every start from `<standin dir>/faults`: one
//! directive per line, `#` comments and blank lines ignored, a missing file
//! means no faults. An unknown directive is an error, so a typo cannot make a
//! test pass by accident.

use std::path::Path;

#[derive(Debug, Default, Clone, PartialEq)]
pub struct Faults {
    /// `refuse-issuer=<url>`: refuse when the first issuer equals one of these.
    pub refuse_issuers: Vec<String>,
    /// `never-ready`: serve nothing, never send READY, wait for a signal.
    pub never_ready: bool,
    /// `exit-after-ready-ms=<n>`: exit 1 this long after READY.
    pub exit_after_ready_ms: Option<u64>,
    /// `startup-delay-ms=<n>`: sleep before doing anything.
    pub startup_delay_ms: Option<u64>,
    /// `refuse`: always refuse to start.
    pub refuse: bool,
}

pub fn load(path: &Path) -> Result<Faults, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse(&text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Faults::default()),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

pub fn parse(text: &str) -> Result<Faults, String> {
    let mut f = Faults::default();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let millis = |v: &str| {
            v.trim().parse::<u64>().map_err(|_| {
                format!(
                    "faults line {}: {line:?} needs a number of milliseconds",
                    n + 1
                )
            })
        };
        match line.split_once('=') {
            None if line == "never-ready" => f.never_ready = true,
            None if line == "refuse" => f.refuse = true,
            Some(("refuse-issuer", url)) => f.refuse_issuers.push(url.trim().to_string()),
            Some(("exit-after-ready-ms", v)) => f.exit_after_ready_ms = Some(millis(v)?),
            Some(("startup-delay-ms", v)) => f.startup_delay_ms = Some(millis(v)?),
            _ => return Err(format!("faults line {}: unknown directive {line:?}", n + 1)),
        }
    }
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_directive() {
        let f = parse(
            "# comment\n\nrefuse-issuer=https://a\nrefuse-issuer=https://b\nnever-ready\nexit-after-ready-ms=250\nstartup-delay-ms=10\nrefuse\n",
        )
        .expect("valid");
        assert_eq!(
            f,
            Faults {
                refuse_issuers: vec!["https://a".into(), "https://b".into()],
                never_ready: true,
                exit_after_ready_ms: Some(250),
                startup_delay_ms: Some(10),
                refuse: true,
            }
        );
    }

    #[test]
    fn typos_are_errors() {
        assert!(parse("never_ready\n").is_err());
        assert!(parse("startup-delay-ms=soon\n").is_err());
    }

    #[test]
    fn missing_file_means_no_faults() {
        let f = load(Path::new("/nonexistent/k3s-standin/faults")).expect("ok");
        assert_eq!(f, Faults::default());
    }
}
