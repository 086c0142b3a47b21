//! `testbed up|down|status --dir DIR`: one long-lived testbed for `make demo` / `make bench`.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use testbed::{Testbed, TestbedError, TestbedOptions};

const USAGE: &str = "\
usage: testbed up --dir DIR [--config FILE] [--role server|agent] [--port N]
                  [--unit NAME] [--restart-always] [--no-start] [-- K3S_ARGS...]
       testbed down --dir DIR [--keep]
       testbed status --dir DIR

up      start a systemd user manager running the k3s stand-in and leave it running;
        writes DIR/env (source it: XDG_RUNTIME_DIR, DBUS_*_BUS_ADDRESS, AIO_PREP_ROOT, ...)
down    stop it and remove DIR (kept with --keep or TESTBED_KEEP=1)
status  print its state; exit 0 when the manager runs and the unit is active, else 3";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(code) => code,
        Err(CliError::Usage(msg)) => {
            eprintln!("testbed: {msg}\n{USAGE}");
            ExitCode::from(2)
        }
        Err(CliError::Testbed(e)) => {
            eprintln!("testbed: {e}");
            ExitCode::from(1)
        }
    }
}

enum CliError {
    Usage(String),
    Testbed(TestbedError),
}

impl From<TestbedError> for CliError {
    fn from(e: TestbedError) -> Self {
        CliError::Testbed(e)
    }
}

#[derive(Default)]
struct Args {
    dir: Option<PathBuf>,
    config: Option<PathBuf>,
    role: Option<String>,
    port: Option<u16>,
    unit: Option<String>,
    restart_always: bool,
    no_start: bool,
    keep: bool,
    exec_args: Vec<String>,
}

fn parse(args: &[String]) -> Result<Args, CliError> {
    let mut a = Args::default();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| CliError::Usage(format!("{name} needs a value")))
        };
        match arg.as_str() {
            "--dir" => a.dir = Some(value("--dir")?.into()),
            "--config" => a.config = Some(value("--config")?.into()),
            "--role" => a.role = Some(value("--role")?),
            "--unit" => a.unit = Some(value("--unit")?),
            "--port" => {
                let v = value("--port")?;
                a.port = Some(
                    v.parse()
                        .map_err(|_| CliError::Usage(format!("--port {v:?} is not a port")))?,
                );
            }
            "--restart-always" => a.restart_always = true,
            "--no-start" => a.no_start = true,
            "--keep" => a.keep = true,
            "--" => {
                a.exec_args = it.cloned().collect();
                break;
            }
            other => return Err(CliError::Usage(format!("unknown argument {other:?}"))),
        }
    }
    Ok(a)
}

fn run(args: &[String]) -> Result<ExitCode, CliError> {
    let Some((cmd, rest)) = args.split_first() else {
        return Err(CliError::Usage("missing command".into()));
    };
    if matches!(cmd.as_str(), "-h" | "--help" | "help") {
        println!("{USAGE}");
        return Ok(ExitCode::SUCCESS);
    }
    let a = parse(rest)?;
    let dir = a
        .dir
        .clone()
        .ok_or_else(|| CliError::Usage("--dir is required".into()))?;
    match cmd.as_str() {
        "up" => up(a, dir),
        "down" => {
            let mut tb = Testbed::attach(&dir)?;
            if a.keep {
                tb.set_keep_dir(true);
            }
            tb.teardown()?;
            eprintln!("testbed: down");
            Ok(ExitCode::SUCCESS)
        }
        "status" => Ok(status(&Testbed::attach(&dir)?)),
        other => Err(CliError::Usage(format!("unknown command {other:?}"))),
    }
}

fn up(a: Args, dir: PathBuf) -> Result<ExitCode, CliError> {
    let mut opts = match a.role.as_deref() {
        None | Some("server") => TestbedOptions::server(),
        Some("agent") => TestbedOptions::agent(),
        Some(r) => return Err(CliError::Usage(format!("--role {r:?}: server or agent"))),
    };
    if let Some(path) = &a.config {
        opts.config_yaml = Some(std::fs::read_to_string(path).map_err(|e| {
            CliError::Usage(format!("cannot read --config {}: {e}", path.display()))
        })?);
    }
    if let Some(unit) = a.unit {
        opts.unit_name = unit;
    }
    opts.https_port = a.port;
    opts.restart_always = a.restart_always;
    opts.start_k3s = !a.no_start;
    opts.exec_args = a.exec_args;
    opts.dir = Some(dir);
    opts.detached = true;

    let tb = Testbed::start(opts)?;
    let mut env = String::new();
    let vars = tb.env().into_iter().chain([
        ("AIO_PREP_ROOT".into(), tb.root().display().to_string()),
        ("TESTBED_DIR".into(), tb.dir().display().to_string()),
        ("TESTBED_UNIT".into(), tb.unit_name().to_string()),
        ("TESTBED_HTTPS_PORT".into(), tb.https_port().to_string()),
    ]);
    for (k, v) in vars {
        // Paths are restricted to [A-Za-z0-9/._-] by the library: no quoting needed.
        let _ = writeln!(env, "export {k}={v}");
    }
    let env_file = tb.dir().join("env");
    std::fs::write(&env_file, env)
        .map_err(|e| CliError::Usage(format!("cannot write {}: {e}", env_file.display())))?;
    let t = tb.timings();
    eprintln!(
        "testbed: up (manager {} ms, unit {} ms, port {}); source {}",
        t.manager_up.as_millis(),
        t.unit_start.map_or(0, |d| d.as_millis()),
        tb.https_port(),
        env_file.display()
    );
    tb.detach();
    Ok(ExitCode::SUCCESS)
}

fn status(tb: &Testbed) -> ExitCode {
    let running = tb.manager_running();
    let state = if running {
        tb.unit_active_state()
    } else {
        "unknown".to_string()
    };
    println!("dir:      {}", tb.dir().display());
    println!("root:     {}", tb.root().display());
    println!("bus:      {}", tb.bus_address());
    println!(
        "manager:  pid {} {}",
        tb.manager_pid(),
        if running { "running" } else { "gone" }
    );
    println!("unit:     {} {state}", tb.unit_name());
    println!("port:     {}", tb.https_port());
    println!("starts:   {}", tb.starts().len());
    if running && state == "active" {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(3)
    }
}
