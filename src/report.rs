//! The run report (SPEC §6): a JSON document for machines, short lines for people.
//! Domain modules never print; this module renders.

use std::io::Write;

use serde::Serialize;

use crate::error::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Ok,
    Changed,
    Failed,
    RolledBack,
    NotApplicable,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepStatus {
    Unchanged,
    Changed,
    Skipped,
    Failed,
}

#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub id: &'static str,
    pub status: StepStatus,
    pub detail: String,
    pub duration_ms: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct FlavorReport {
    pub name: &'static str,
    pub role: &'static str,
    pub config_file: String,
    pub unit: Option<String>,
    pub evidence: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct IssuerReport {
    pub url: String,
    pub source: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct ErrorReport {
    pub kind: &'static str,
    pub message: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub schema: u32,
    pub command: &'static str,
    pub outcome: Outcome,
    pub flavor: Option<FlavorReport>,
    pub issuer: Option<IssuerReport>,
    pub steps: Vec<Step>,
    pub restarted: bool,
    pub diff: Option<String>,
    pub error: Option<ErrorReport>,
    /// Exit code (not serialized: the process exit status carries it).
    #[serde(skip)]
    pub exit_code: u8,
}

impl Report {
    pub fn new(command: &'static str) -> Report {
        Report {
            schema: 1,
            command,
            outcome: Outcome::Ok,
            flavor: None,
            issuer: None,
            steps: Vec::new(),
            restarted: false,
            diff: None,
            error: None,
            exit_code: 0,
        }
    }

    pub fn step(
        &mut self,
        id: &'static str,
        status: StepStatus,
        detail: impl Into<String>,
        started: std::time::Instant,
    ) {
        self.steps.push(Step {
            id,
            status,
            detail: detail.into(),
            duration_ms: started.elapsed().as_millis() as u64,
        });
    }

    /// Records a failure: outcome, error and exit code from the error's kind.
    pub fn fail(&mut self, err: &Error) {
        let kind = err.kind();
        self.outcome = match kind {
            crate::error::ErrorKind::RolledBack => Outcome::RolledBack,
            _ => Outcome::Failed,
        };
        self.error = Some(ErrorReport {
            kind: kind.as_str(),
            message: err.one_line(),
        });
        self.exit_code = kind.exit_code();
    }
}

pub fn write_json(out: &mut dyn Write, report: &Report) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, report)?;
    writeln!(out)
}

fn mark(status: StepStatus) -> &'static str {
    match status {
        StepStatus::Unchanged => "✓",
        StepStatus::Changed => "~",
        StepStatus::Skipped => "-",
        StepStatus::Failed => "✗",
    }
}

pub fn write_human(out: &mut dyn Write, report: &Report) -> std::io::Result<()> {
    if let Some(f) = &report.flavor {
        let unit = f.unit.as_deref().unwrap_or("no unit");
        writeln!(
            out,
            "{} {} ({unit}), config {}",
            f.name, f.role, f.config_file
        )?;
        if report.command == "detect" {
            for e in &f.evidence {
                writeln!(out, "  evidence: {e}")?;
            }
        }
    }
    if let Some(i) = &report.issuer {
        writeln!(out, "issuer {} (from {})", i.url, i.source)?;
    }
    for s in &report.steps {
        writeln!(out, "{} {:<8} {}", mark(s.status), s.id, s.detail)?;
    }
    if let Some(d) = &report.diff {
        out.write_all(d.as_bytes())?;
    }
    let outcome = match report.outcome {
        Outcome::Ok => "ok",
        Outcome::Changed => "changed",
        Outcome::Failed => "failed",
        Outcome::RolledBack => "rolled back",
        Outcome::NotApplicable => "not applicable",
    };
    if report.error.is_none() {
        writeln!(
            out,
            "{outcome}{}",
            if report.restarted {
                " (k3s restarted)"
            } else {
                ""
            }
        )?;
    }
    Ok(())
}

/// The error for people: the message, then each cause once (STYLE: zincati's chain).
pub fn write_error_chain(out: &mut dyn Write, err: &Error) -> std::io::Result<()> {
    writeln!(out, "error: {err}")?;
    let mut printed = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        let text = cause.to_string();
        if !printed.contains(&text) {
            writeln!(out, "  caused by: {text}")?;
            printed.push_str(&text);
        }
        source = cause.source();
    }
    Ok(())
}
