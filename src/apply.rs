//! apply: execute a plan — write (backup first, atomic), restart only when needed, verify
//! the live issuer, and roll back when k3s does not come back right (SPEC §2, §6).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::hostfile::{self, Ownership};
use crate::k3s::plan::HostPlan;
use crate::plan::{self, CloudStep, Context, HostDecision, Live, Mode, RestartReason};
use crate::report::{Outcome, Report, StepStatus};
use crate::state::{LastApply, StateDir};
use crate::systemd::Systemd;

/// Called while waiting: what for, and for how long so far.
pub type Progress<'a> = &'a mut dyn FnMut(&str, Duration);

pub async fn apply(ctx: &Context, report: &mut Report, progress: Progress<'_>) -> Result<()> {
    let started = Instant::now();
    let cloud_started = Instant::now();
    let plan = plan::build(ctx, Mode::Apply, &mut |what| {
        progress(what, cloud_started.elapsed())
    })
    .await?;
    crate::app::describe(report, &plan.detection, plan.issuer.as_ref());
    report.step(
        "detect",
        StepStatus::Unchanged,
        crate::app::flavor_line(&plan.detection),
        started,
    );
    crate::app::cloud_steps(report, &plan, cloud_started);
    if matches!(plan.cloud, CloudStep::Enabled(_)) {
        report.outcome = Outcome::Changed;
    }
    let t = plan.timings;
    tracing::debug!(
        detect_us = t.detect.as_micros() as u64,
        auth_us = t.cloud.auth.as_micros() as u64,
        arm_us = t.cloud.arm.as_micros() as u64,
        discovery_us = t.cloud.discovery.as_micros() as u64,
        host_us = t.host.as_micros() as u64,
        live_us = t.live.as_micros() as u64,
        "plan timings"
    );
    let hp = match &plan.host {
        HostDecision::NotApplicable(reason) => {
            report.step(
                "config",
                StepStatus::Skipped,
                reason.clone(),
                Instant::now(),
            );
            if report.outcome != Outcome::Changed {
                report.outcome = Outcome::NotApplicable;
            }
            return Ok(());
        }
        HostDecision::Pending(reason) => {
            return Err(Error::Internal(format!(
                "host step could not be planned: {reason}"
            )));
        }
        HostDecision::Change(hp) => hp,
    };
    let will_restart = plan.restart.is_some() && ctx.settings.k3s.restart;
    let unit = plan.detection.unit.clone();
    if will_restart {
        if unit.is_none() {
            return Err(Error::Unsupported(
                "k3s needs a restart but no k3s unit was found (set [k3s] unit); nothing changed"
                    .into(),
            ));
        }
        if ctx.systemd.is_none() {
            return Err(Error::Internal(
                "k3s needs a restart but systemd is not reachable on the system bus (DBUS_SYSTEM_BUS_ADDRESS?); nothing changed".into(),
            ));
        }
    }
    let t = Instant::now();
    let record = if let Some(new_text) = &hp.new_text {
        let record = write_target(ctx, hp, new_text)?;
        report.diff = crate::diff::unified(
            &hp.target_path.display().to_string(),
            &hp.target_path.display().to_string(),
            hp.old_text.as_deref().unwrap_or(""),
            new_text,
        );
        report.step(
            "config",
            StepStatus::Changed,
            format!(
                "{} updated (issuers {})",
                hp.target_path.display(),
                hp.after.issuers.join(", ")
            ),
            t,
        );
        report.outcome = Outcome::Changed;
        Some(record)
    } else {
        report.step(
            "config",
            StepStatus::Unchanged,
            format!("{} already in desired state", hp.target_path.display()),
            t,
        );
        None
    };
    let Some(reason) = plan.restart else {
        report.step(
            "restart",
            StepStatus::Unchanged,
            "not needed",
            Instant::now(),
        );
        verify_unchanged(report, &plan.live, &hp.desired.issuers[0]);
        return Ok(());
    };
    if !ctx.settings.k3s.restart {
        report.step(
            "restart",
            StepStatus::Skipped,
            "restart pending ([k3s] restart = false)",
            Instant::now(),
        );
        report.outcome = Outcome::Changed;
        return Ok(());
    }
    let (Some(unit), Some(systemd)) = (unit, ctx.systemd.as_ref()) else {
        return Err(Error::Internal(
            "restart needed but the unit or systemd went away".into(),
        ));
    };
    let why = match reason {
        RestartReason::FileChanged => "config changed",
        RestartReason::LiveIssuerDiffers => "running API server has another issuer",
    };
    let deadline = ctx.settings.k3s.restart_timeout;
    let t = Instant::now();
    let restarted = systemd
        .restart(&unit, deadline, &mut |waited| {
            progress(&format!("waiting for {unit} to restart"), waited)
        })
        .await;
    match restarted {
        Ok(r) => {
            tracing::debug!(
                noticed_unix_us = r.noticed_unix_us as u64,
                restart_wait_us = r.waited.as_micros() as u64,
                "restart job done"
            );
            report.restarted = true;
            report.outcome = Outcome::Changed;
            report.step(
                "restart",
                StepStatus::Changed,
                format!(
                    "{unit} restarted ({why}) in {}",
                    crate::duration::human(r.waited)
                ),
                t,
            );
        }
        Err(e) => {
            report.restarted = true;
            report.step("restart", StepStatus::Failed, e.to_string(), t);
            return Err(roll_back(ctx, systemd, &unit, hp, record.as_ref(), &e.to_string()).await);
        }
    }
    let t = Instant::now();
    let verify_deadline = Instant::now()
        + deadline
            .saturating_sub(t.duration_since(started))
            .max(Duration::from_secs(10));
    match plan::live(&ctx.root, Some(verify_deadline)).await {
        Live::Issuer(i) if i == hp.desired.issuers[0] => {
            report.step(
                "verify",
                StepStatus::Unchanged,
                format!("live issuer is {i}"),
                t,
            );
            Ok(())
        }
        other => {
            let problem = match other {
                Live::Issuer(i) => {
                    format!("live issuer is {i}, expected {}", hp.desired.issuers[0])
                }
                Live::Unknown(e) => format!("cannot read the live issuer: {e}"),
            };
            report.step("verify", StepStatus::Failed, problem.clone(), t);
            Err(roll_back(ctx, systemd, &unit, hp, record.as_ref(), &problem).await)
        }
    }
}

fn verify_unchanged(report: &mut Report, live: &Live, want: &str) {
    let now = Instant::now();
    match live {
        Live::Issuer(i) if i == want => report.step(
            "verify",
            StepStatus::Unchanged,
            format!("live issuer is {i}"),
            now,
        ),
        Live::Issuer(i) => report.step(
            "verify",
            StepStatus::Skipped,
            format!("live issuer is {i} (restart pending)"),
            now,
        ),
        Live::Unknown(e) => report.step(
            "verify",
            StepStatus::Skipped,
            format!("live issuer unknown: {e}"),
            now,
        ),
    }
}

/// Where the bytes really go (a symlink inside the directory is followed) and who owns them.
fn write_target(ctx: &Context, hp: &HostPlan, new_text: &str) -> Result<LastApply> {
    let path = ctx.root.resolve(&hp.target_path);
    let current = hostfile::read_guarded(&path).map_err(crate::k3s::K3sError::from)?;
    if current.as_ref().map(|f| f.text.as_str()) != hp.old_text.as_deref() {
        return Err(Error::Internal(format!(
            "{} changed while aio-prep was planning; nothing written, run again",
            hp.target_path.display()
        )));
    }
    let dir = path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("/"));
    std::fs::create_dir_all(&dir).map_err(|source| Error::Io {
        action: "create",
        path: dir.clone(),
        source,
    })?;
    hostfile::clean_stale_temps(&dir);
    let state = StateDir::new(&ctx.root);
    let record = state.save_before_write(&hp.target_path, current.as_ref())?;
    let (real, owner) = match &current {
        Some(f) => (f.real_path.clone(), Ownership::of(f)),
        None => (path, Ownership::private()),
    };
    hostfile::atomic_write(&real, new_text.as_bytes(), owner)
        .map_err(crate::k3s::K3sError::from)?;
    Ok(record)
}

/// Puts the old bytes back, restarts, verifies the old issuer; the returned error says how
/// that went (exit 6 rolled back, 7 rollback failed).
async fn roll_back(
    ctx: &Context,
    systemd: &Systemd,
    unit: &str,
    hp: &HostPlan,
    record: Option<&LastApply>,
    problem: &str,
) -> Error {
    let Some(record) = record else {
        // Nothing was written (restart for a live-issuer mismatch): nothing to restore.
        return Error::RollbackFailed {
            message: format!("{problem}; no file was changed in this run, so there is nothing to restore: check {unit}"),
        };
    };
    match restore(
        ctx,
        systemd,
        unit,
        record,
        hp.old_text.as_deref(),
        &hp.before.issuers[0],
    )
    .await
    {
        Ok(()) => Error::RolledBack {
            message: format!(
                "{problem}; restored {} and {unit} is back with issuer {}",
                hp.target_path.display(),
                hp.before.issuers[0]
            ),
        },
        Err(e) => Error::RollbackFailed {
            message: format!("{problem}; rollback failed too: {}", e.one_line()),
        },
    }
}

/// Restores `old` (or removes the file if it did not exist), restarts, checks the issuer.
pub async fn restore(
    ctx: &Context,
    systemd: &Systemd,
    unit: &str,
    record: &LastApply,
    old: Option<&str>,
    expect_issuer: &str,
) -> Result<()> {
    let path = ctx.root.resolve(&record.target);
    let real = hostfile::resolve_in_dir(&path)
        .map_err(crate::k3s::K3sError::from)?
        .unwrap_or(path);
    match old {
        Some(text) => hostfile::atomic_write(
            &real,
            text.as_bytes(),
            Ownership {
                mode: record.mode,
                uid: Some(record.uid),
                gid: Some(record.gid),
            },
        ),
        None => hostfile::remove_durably(&real),
    }
    .map_err(crate::k3s::K3sError::from)?;
    StateDir::new(&ctx.root).clear_last_apply()?;
    // Restarts in quick succession may have hit systemd's start rate limit; a rollback
    // must still be able to bring k3s back.
    if let Err(e) = systemd.reset_failed(unit).await {
        tracing::warn!("{e}");
    }
    systemd
        .restart(unit, ctx.settings.k3s.restart_timeout, |_| {})
        .await?;
    let deadline = Instant::now() + Duration::from_secs(30);
    match plan::live(&ctx.root, Some(deadline)).await {
        Live::Issuer(i) if i == expect_issuer => Ok(()),
        Live::Issuer(i) => Err(Error::Internal(format!(
            "after restore the live issuer is {i}, expected {expect_issuer}"
        ))),
        Live::Unknown(e) => Err(Error::Internal(format!(
            "after restore the live issuer is unknown: {e}"
        ))),
    }
}
