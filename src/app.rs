//! Command dispatch: turns a parsed command line into a report (or text) and an exit code.

use std::io::Write;
use std::time::{Duration, Instant};

use crate::cli::{Cli, Command, ConfigCommand, OutputFormat};
use crate::config::{self, Layers, Settings};
use crate::detect::Detection;
use crate::error::{Error, Result};
use crate::paths::{HostRoot, AIO_CONFIG_FILE, LOCK_FILE};
use crate::plan::{self, CloudStep, Context, HostDecision, Live, Mode, Plan, ResolvedIssuer};
use crate::report::{self, FlavorReport, IssuerReport, Outcome, Report, StepStatus};

/// Runs the command; writes its output to `out`/`err`; returns the exit code.
pub async fn run(
    cli: Cli,
    env: &[(String, String)],
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    let format = cli.global.output;
    let command = command_name(&cli.command);
    match &cli.command {
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(*shell, &mut cmd, "aio-prep", out);
            return 0;
        }
        Command::Man => {
            let cmd = <Cli as clap::CommandFactory>::command();
            return match clap_mangen::Man::new(cmd).render(out) {
                Ok(()) => 0,
                Err(_) => 1,
            };
        }
        _ => {}
    }
    let root = HostRoot::new(&cli.global.root);
    let result = match &cli.command {
        Command::Config(c) => config_command(&cli, c, &root, env, out).map(|()| None),
        _ => report_command(&cli, command, &root, env, err)
            .await
            .map(Some),
    };
    let report = match result {
        Ok(None) => return 0,
        Ok(Some(r)) => r,
        Err((e, partial)) => {
            let mut r = partial.map(|b| *b).unwrap_or_else(|| Report::new(command));
            r.fail(&e);
            if format == OutputFormat::Human || matches!(cli.command, Command::Config(_)) {
                let _ = report::write_error_chain(err, &e);
            }
            if matches!(cli.command, Command::Config(_)) {
                return r.exit_code;
            }
            r
        }
    };
    let written = match format {
        OutputFormat::Json => report::write_json(out, &report),
        OutputFormat::Human => report::write_human(out, &report),
    };
    if written.is_err() {
        return 1;
    }
    report.exit_code
}

fn command_name(c: &Command) -> &'static str {
    match c {
        Command::Detect => "detect",
        Command::Plan => "plan",
        Command::Apply => "apply",
        Command::Status => "status",
        Command::Rollback => "rollback",
        Command::Config(_) => "config",
        Command::Completions { .. } => "completions",
        Command::Man => "man",
    }
}

type Failed = (Error, Option<Box<Report>>);

fn settings(cli: &Cli, root: &HostRoot, env: &[(String, String)]) -> Result<Settings> {
    let mut layers = Layers::load(root, cli.global.config.as_deref(), env)?;
    if let Some(url) = &cli.global.issuer_url {
        let spec = config::key_spec("issuer.url")
            .ok_or_else(|| Error::Internal("issuer.url key missing".into()))?;
        layers.set(spec, url.clone(), "--issuer-url".into())?;
    }
    Ok(Settings::from_layers(layers)?)
}

fn config_command(
    cli: &Cli,
    c: &ConfigCommand,
    root: &HostRoot,
    env: &[(String, String)],
    out: &mut dyn Write,
) -> Result<(), Failed> {
    let fail = |e: Error| (e, None);
    match c {
        ConfigCommand::Show => {
            let s = settings(cli, root, env).map_err(fail)?;
            let _ = out.write_all(config::render_effective(&s.layers).as_bytes());
            let _ = out.write_all(config::render_credential_env(env).as_bytes());
            Ok(())
        }
        ConfigCommand::Set { key, value } => {
            let file = cli
                .global
                .config
                .clone()
                .unwrap_or_else(|| root.resolve(AIO_CONFIG_FILE));
            config::set_in_file(&file, key, value).map_err(|e| fail(e.into()))?;
            let _ = writeln!(out, "{key} = {value:?} in {}", file.display());
            Ok(())
        }
    }
}

async fn report_command(
    cli: &Cli,
    command: &'static str,
    root: &HostRoot,
    env: &[(String, String)],
    err: &mut dyn Write,
) -> Result<Report, Failed> {
    let settings = settings(cli, root, env).map_err(|e| (e, None))?;
    let ctx = Context::new(root.clone(), settings, env.to_vec()).await;
    let mut report = Report::new(command);
    let human_tty = cli.global.output == OutputFormat::Human
        && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let mut printer = ProgressPrinter::new(human_tty);
    let mut progress = |what: &str, waited: Duration| printer.show(err, what, waited);
    let result = match cli.command {
        Command::Detect => detect(&ctx, &mut report).await,
        Command::Plan => plan_command(&ctx, &mut report).await,
        Command::Status => status(&ctx, &mut report).await,
        Command::Apply | Command::Rollback => {
            let timeout = crate::duration::parse_go_duration(&cli.global.lock_timeout)
                .map_err(|e| (Error::Usage(format!("--lock-timeout: {e}")), None))?;
            let lock = crate::lock::acquire(&root.resolve(LOCK_FILE), timeout, || {
                tracing::info!("waiting for another aio-prep run to finish");
            })
            .map_err(|e| (e.into(), None))?;
            let r = if matches!(cli.command, Command::Apply) {
                crate::apply::apply(&ctx, &mut report, &mut progress).await
            } else {
                rollback(&ctx, &mut report).await
            };
            drop(lock);
            r
        }
        _ => Ok(()),
    };
    if human_tty {
        let _ = write!(err, "\r\x1b[K");
    }
    match result {
        Ok(()) => Ok(report),
        Err(e) => Err((e, Some(Box::new(report)))),
    }
}

/// Progress for waits longer than 2 s: one updating line on a TTY; otherwise a plain line
/// when the message changes or every 10 s.
struct ProgressPrinter {
    tty: bool,
    last: Option<(String, Instant)>,
}

impl ProgressPrinter {
    fn new(tty: bool) -> Self {
        ProgressPrinter { tty, last: None }
    }

    fn show(&mut self, err: &mut dyn Write, what: &str, waited: Duration) {
        if waited < Duration::from_secs(2) {
            return;
        }
        if self.tty {
            let _ = write!(err, "\r\x1b[K… {what} ({})", crate::duration::human(waited));
            let _ = err.flush();
            return;
        }
        let due = match &self.last {
            None => true,
            Some((msg, at)) => msg != what || at.elapsed() >= Duration::from_secs(10),
        };
        if due {
            let _ = writeln!(err, "{what} ({})", crate::duration::human(waited));
            self.last = Some((what.to_string(), Instant::now()));
        }
    }
}

pub fn flavor_line(d: &Detection) -> String {
    format!(
        "{} {} via {}",
        d.flavor.as_str(),
        d.role.as_str(),
        d.unit.as_deref().unwrap_or("no unit")
    )
}

/// Puts the flavor (and issuer) sections into a report.
pub fn describe(report: &mut Report, d: &Detection, issuer: Option<&ResolvedIssuer>) {
    report.flavor = Some(FlavorReport {
        name: d.flavor.as_str(),
        role: d.role.as_str(),
        config_file: d.config_file.display().to_string(),
        unit: d.unit.clone(),
        evidence: d.evidence.clone(),
    });
    report.issuer = issuer.map(|i| IssuerReport {
        url: i.url.clone(),
        source: i.source.as_str(),
    });
}

async fn detect(ctx: &Context, report: &mut Report) -> Result<()> {
    let t = Instant::now();
    let d = ctx.detect().await;
    describe(report, &d, None);
    report.step("detect", StepStatus::Unchanged, flavor_line(&d), t);
    if let Err(e) = plan::check_flavor(&d) {
        report.outcome = Outcome::NotApplicable;
        report.exit_code = 4;
        report.step("support", StepStatus::Failed, e.to_string(), t);
    }
    Ok(())
}

/// The `cloud` and `issuer` steps of a report.
pub fn cloud_steps(report: &mut Report, p: &Plan, started: Instant) {
    match &p.cloud {
        CloudStep::Offline => report.step(
            "cloud",
            StepStatus::Skipped,
            "offline mode: issuer URL given, no Azure calls",
            started,
        ),
        CloudStep::Ready(d) => report.step("cloud", StepStatus::Unchanged, d.clone(), started),
        CloudStep::Enabled(d) | CloudStep::WouldEnable(d) => {
            report.step("cloud", StepStatus::Changed, d.clone(), started)
        }
    }
    match &p.issuer {
        Some(i) => {
            let mut detail = format!("{} (from {})", i.url, i.source.as_str());
            if let Some(w) = &i.warning {
                detail.push_str(&format!("; discovery failed: {w}"));
            }
            report.step("issuer", StepStatus::Unchanged, detail, started);
        }
        None if p.cloud.pending_change() => report.step(
            "issuer",
            StepStatus::Skipped,
            "known once the OIDC issuer is enabled",
            started,
        ),
        None => {}
    }
}

async fn plan_command(ctx: &Context, report: &mut Report) -> Result<()> {
    let now = Instant::now();
    let p = plan::build(ctx, Mode::ReadOnly, &mut |_| {}).await?;
    describe(report, &p.detection, p.issuer.as_ref());
    report.step(
        "detect",
        StepStatus::Unchanged,
        flavor_line(&p.detection),
        now,
    );
    cloud_steps(report, &p, now);
    let pending_cloud = p.cloud.pending_change();
    let hp = match &p.host {
        HostDecision::NotApplicable(reason) => {
            report.step("config", StepStatus::Skipped, reason.clone(), now);
            report.outcome = if pending_cloud {
                Outcome::Changed
            } else {
                Outcome::NotApplicable
            };
            report.exit_code = if pending_cloud { 3 } else { 0 };
            return Ok(());
        }
        HostDecision::Pending(reason) => {
            report.step("config", StepStatus::Skipped, reason.clone(), now);
            report.outcome = Outcome::Changed;
            report.exit_code = 3;
            return Ok(());
        }
        HostDecision::Change(hp) => hp,
    };
    if let Some(new) = &hp.new_text {
        let name = hp.target_path.display().to_string();
        report.diff = crate::diff::unified(&name, &name, hp.old_text.as_deref().unwrap_or(""), new);
        report.step(
            "config",
            StepStatus::Changed,
            format!(
                "would update {name}: issuers {}",
                hp.after.issuers.join(", ")
            ),
            now,
        );
    } else {
        report.step(
            "config",
            StepStatus::Unchanged,
            format!("{} already in desired state", hp.target_path.display()),
            now,
        );
    }
    match p.restart {
        Some(reason) => {
            let unit = p.detection.unit.as_deref().unwrap_or("k3s");
            let why = match reason {
                plan::RestartReason::FileChanged => "config changes",
                plan::RestartReason::LiveIssuerDiffers => "running API server has another issuer",
            };
            let detail = if ctx.settings.k3s.restart {
                format!("would restart {unit} ({why})")
            } else {
                format!("{unit} restart pending ({why}); [k3s] restart = false")
            };
            report.step("restart", StepStatus::Changed, detail, now);
        }
        None => report.step("restart", StepStatus::Unchanged, "not needed", now),
    }
    if pending_cloud || hp.new_text.is_some() || p.restart.is_some() {
        report.outcome = Outcome::Changed;
        report.exit_code = 3;
    }
    Ok(())
}

async fn status(ctx: &Context, report: &mut Report) -> Result<()> {
    let now = Instant::now();
    let p = plan::build(ctx, Mode::ReadOnly, &mut |_| {}).await?;
    describe(report, &p.detection, p.issuer.as_ref());
    cloud_steps(report, &p, now);
    let mut in_state = !p.cloud.pending_change();
    match &p.host {
        HostDecision::NotApplicable(reason) => {
            report.step("config", StepStatus::Skipped, reason.clone(), now);
            if in_state {
                report.outcome = Outcome::NotApplicable;
            }
        }
        HostDecision::Pending(reason) => {
            in_state = false;
            report.step("config", StepStatus::Skipped, reason.clone(), now);
        }
        HostDecision::Change(hp) => {
            if hp.changes_file() {
                in_state = false;
                report.step(
                    "config",
                    StepStatus::Failed,
                    format!(
                        "issuers {:?}, max-token-expiration {:?}; want {:?}, {:?}",
                        hp.before.issuers,
                        hp.before.max_token_expiration,
                        hp.desired.issuers,
                        hp.desired.max_token_expiration
                    ),
                    now,
                );
            } else {
                report.step(
                    "config",
                    StepStatus::Unchanged,
                    format!("issuers {}", hp.before.issuers.join(", ")),
                    now,
                );
            }
            let want = &hp.desired.issuers[0];
            match &p.live {
                Live::Issuer(i) if i == want => report.step(
                    "live",
                    StepStatus::Unchanged,
                    format!("live issuer is {i}"),
                    now,
                ),
                Live::Issuer(i) => {
                    in_state = false;
                    report.step(
                        "live",
                        StepStatus::Failed,
                        format!("live issuer is {i}"),
                        now,
                    );
                }
                Live::Unknown(e) => {
                    in_state = false;
                    report.step(
                        "live",
                        StepStatus::Failed,
                        format!("live issuer unknown: {e}"),
                        now,
                    );
                }
            }
        }
    }
    if !in_state {
        report.outcome = Outcome::Failed;
        report.exit_code = 3;
    }
    Ok(())
}

async fn rollback(ctx: &Context, report: &mut Report) -> Result<()> {
    let t = Instant::now();
    let d = ctx.detect().await;
    describe(report, &d, None);
    let state = crate::state::StateDir::new(&ctx.root);
    let Some(record) = state.last_apply()? else {
        report.step(
            "rollback",
            StepStatus::Unchanged,
            "nothing to roll back (no apply recorded)",
            t,
        );
        return Ok(());
    };
    let old = state.backup_text(&record)?;
    let (Some(unit), Some(systemd)) = (d.unit.as_deref(), ctx.systemd.as_ref()) else {
        return Err(Error::Unsupported(
            "rollback needs the k3s unit and systemd on the system bus".into(),
        ));
    };
    // The issuer k3s will run with once the old file is back.
    let sources = plan::load_sources(ctx, &d)?;
    let restored = sources.with_replaced(&record.target, old.as_deref().unwrap_or(""))?;
    let merged = crate::k3s::merge::merge(&restored)?;
    let expect = crate::k3s::intent::effective(&merged, plan::flags_of(&d)).issuers;
    let expect = expect.first().cloned().unwrap_or_default();
    crate::apply::restore(ctx, systemd, unit, &record, old.as_deref(), &expect)
        .await
        .map_err(|e| Error::RollbackFailed {
            message: e.one_line(),
        })?;
    report.restarted = true;
    report.outcome = Outcome::Changed;
    let what = match &record.backup {
        Some(b) => format!("restored {} from backup {b}", record.target.display()),
        None => format!(
            "removed {} (it did not exist before)",
            record.target.display()
        ),
    };
    report.step(
        "rollback",
        StepStatus::Changed,
        format!("{what}; live issuer is {expect}"),
        t,
    );
    Ok(())
}
