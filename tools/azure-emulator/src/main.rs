//! `azure-emulator serve --dir DIR [--root ROOT] [--demo] [--arc-identity]`: runs the
//! emulator until SIGTERM/SIGINT, with `DIR/ca.pem`, `DIR/env` (`export` lines for
//! aio-prep), `DIR/pid`, and with `--demo` one preloaded cluster and service
//! principal (`DIR/client-secret`, mode 0600). `--arc-identity` gives the machine an
//! Arc-enabled server identity in the default tenant (HIMDS answers) and exports
//! `IDENTITY_ENDPOINT` / `IMDS_ENDPOINT` as the Connected Machine agent sets them.
//!
//! `--root ROOT` is the host root aio-prep runs with (`aio-prep --root ROOT`):
//! HIMDS writes its challenge keys under it, and because aio-prep resolves
//! host paths under its root, the CA and the client secret are also written to
//! `ROOT/etc/azure-emulator/` and exported as `/etc/azure-emulator/...`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use azure_emulator::{ClusterSpec, Credential, Emulator, EmulatorOptions, DEFAULT_TENANT};

const USAGE: &str = "usage: azure-emulator serve --dir DIR [--root ROOT] [--demo [--fast] [--clusters N]] [--arc-identity]";

const DEMO_SUBSCRIPTION: &str = "1bfbb5d0-917e-4346-9026-1d3b344417f5";
const DEMO_RESOURCE_GROUP: &str = "aio-demo-rg";
const DEMO_CLUSTER: &str = "edge-k3s-01";
const DEMO_CLIENT_ID: &str = "5c1d7a0e-3b2f-4e6a-9d8c-7f1e2a3b4c5d";
/// With --root, where the CA and the client secret go, as the host sees it.
const HOST_DIR: &str = "/etc/azure-emulator";

struct Args {
    dir: PathBuf,
    root: Option<PathBuf>,
    demo: bool,
    /// No server-side delay: Retry-After 0, the operation done at the first poll, agents
    /// settled at once (for `make bench`: the agent's own time only).
    fast: bool,
    /// Extra demo clusters `bench-1..N` (each can be enabled once).
    clusters: u32,
    /// An Arc-enabled server identity for the machine (HIMDS), in the default tenant.
    arc_identity: bool,
}

fn parse(argv: &[String]) -> Result<Args, String> {
    let mut it = argv.iter();
    match it.next().map(String::as_str) {
        Some("serve") => {}
        Some("-h" | "--help") => return Err(USAGE.to_string()),
        _ => return Err(USAGE.to_string()),
    }
    let (mut dir, mut root, mut demo, mut fast, mut clusters) = (None, None, false, false, 0);
    let mut arc_identity = false;
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--dir" => dir = it.next().map(PathBuf::from),
            "--root" => root = it.next().map(PathBuf::from),
            "--demo" => demo = true,
            "--fast" => fast = true,
            "--arc-identity" => arc_identity = true,
            "--clusters" => {
                clusters = it
                    .next()
                    .and_then(|n| n.parse().ok())
                    .ok_or_else(|| format!("--clusters needs a number\n{USAGE}"))?
            }
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    let dir = dir.ok_or_else(|| format!("--dir is required\n{USAGE}"))?;
    Ok(Args {
        dir,
        root,
        demo,
        fast,
        clusters,
        arc_identity,
    })
}

/// Single-quotes a value for a POSIX shell.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

fn write_private(path: &Path, contents: &str, mode: u32) -> Result<(), String> {
    let tmp = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode);
    }
    let result = options
        .open(&tmp)
        .and_then(|mut f| f.write_all(contents.as_bytes()).and_then(|()| f.sync_all()))
        .and_then(|()| std::fs::rename(&tmp, path));
    result.map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn run(args: Args) -> Result<(), String> {
    // Signal handlers first, so a SIGTERM right after `pid` appears is not lost.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the signal runtime: {e}"))?;
    let (mut term, mut int) = {
        use tokio::signal::unix::{signal, SignalKind};
        let _guard = runtime.enter();
        (
            signal(SignalKind::terminate()).map_err(|e| e.to_string())?,
            signal(SignalKind::interrupt()).map_err(|e| e.to_string())?,
        )
    };
    std::fs::create_dir_all(&args.dir)
        .map_err(|e| format!("cannot create {}: {e}", args.dir.display()))?;
    let dir = args
        .dir
        .canonicalize()
        .map_err(|e| format!("{}: {e}", args.dir.display()))?;
    let emu = Emulator::start(EmulatorOptions {
        root: args.root.clone(),
        work_dir: Some(dir.clone()),
        ..EmulatorOptions::default()
    })
    .map_err(|e| e.to_string())?;

    // aio-prep resolves host paths under its --root: with --root, the files it
    // reads are also placed under ROOT and exported as the host sees them.
    let host_file = |name: &str, contents: &str, mode: u32| -> Result<String, String> {
        match &args.root {
            Some(root) => {
                let host_dir = root.join(HOST_DIR.trim_start_matches('/'));
                std::fs::create_dir_all(&host_dir)
                    .map_err(|e| format!("cannot create {}: {e}", host_dir.display()))?;
                write_private(&host_dir.join(name), contents, mode)?;
                Ok(format!("{HOST_DIR}/{name}"))
            }
            None => Ok(dir.join(name).display().to_string()),
        }
    };
    let ca_file = host_file("ca.pem", emu.ca_pem(), 0o644)?;
    let mut env = vec![
        (
            "AIO_PREP_AZURE_ARM_ENDPOINT",
            emu.arm_endpoint().to_string(),
        ),
        (
            "AIO_PREP_AZURE_AUTHORITY_HOST",
            emu.authority_host().to_string(),
        ),
        ("AIO_PREP_AZURE_CA_FILE", ca_file),
        ("AZURE_EMULATOR_HTTPS_URL", emu.https_url().to_string()),
        ("AZURE_EMULATOR_HTTP_URL", emu.http_url().to_string()),
        ("AZURE_EMULATOR_ROOT", emu.root().display().to_string()),
    ];
    if args.demo {
        let (reads, polls, retry_after) = if args.fast { (0, 0, 0) } else { (3, 2, 1) };
        let names = std::iter::once(DEMO_CLUSTER.to_string())
            .chain((1..=args.clusters).map(|i| format!("bench-{i}")));
        for name in names {
            emu.add_cluster(ClusterSpec {
                subscription: DEMO_SUBSCRIPTION.to_string(),
                resource_group: DEMO_RESOURCE_GROUP.to_string(),
                name,
                location: "eastus".to_string(),
                oidc_enabled: false,
                workload_identity_enabled: false,
                agent_state_reads_before_settled: reads,
                lro_polls_before_done: polls,
                retry_after_secs: retry_after,
                ..ClusterSpec::default()
            });
        }
        let secret = format!("demo~{}", random_secret()?);
        emu.add_service_principal(
            DEFAULT_TENANT,
            DEMO_CLIENT_ID,
            Credential::Secret(secret.clone()),
        )
        .map_err(|e| e.to_string())?;
        write_private(&dir.join("client-secret"), &secret, 0o600)?;
        let secret_file = host_file("client-secret", &secret, 0o600)?;
        env.extend([
            ("AZURE_TENANT_ID", DEFAULT_TENANT.to_string()),
            ("AZURE_CLIENT_ID", DEMO_CLIENT_ID.to_string()),
            ("AIO_PREP_AZURE_AUTH_CLIENT_SECRET_FILE", secret_file),
            (
                "AIO_PREP_AZURE_SUBSCRIPTION_ID",
                DEMO_SUBSCRIPTION.to_string(),
            ),
            (
                "AIO_PREP_AZURE_RESOURCE_GROUP",
                DEMO_RESOURCE_GROUP.to_string(),
            ),
            ("AIO_PREP_AZURE_CLUSTER_NAME", DEMO_CLUSTER.to_string()),
        ]);
    }
    if args.arc_identity {
        emu.set_arc_identity(DEFAULT_TENANT);
        env.extend([
            ("IDENTITY_ENDPOINT", emu.identity_endpoint()),
            ("IMDS_ENDPOINT", emu.http_url().to_string()),
        ]);
    }
    let env_text: String = env
        .iter()
        .map(|(k, v)| format!("export {k}={}\n", quote(v)))
        .collect();
    write_private(&dir.join("env"), &env_text, 0o644)?;
    write_private(
        &dir.join("pid"),
        &format!("{}\n", std::process::id()),
        0o644,
    )?;
    eprintln!(
        "azure-emulator: ARM/Entra/discovery {} · HIMDS/IMDS {} · env {}",
        emu.https_url(),
        emu.http_url(),
        dir.join("env").display()
    );

    runtime.block_on(async {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    });
    let _ = std::fs::remove_file(dir.join("pid"));
    drop(emu);
    Ok(())
}

/// A random secret in the style of an Entra client secret value.
fn random_secret() -> Result<String, String> {
    use base64::Engine as _;
    let mut bytes = [0u8; 30];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .map_err(|_| "the system random number generator failed".to_string())?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let args = match parse(&argv) {
        Ok(a) => a,
        Err(msg) => {
            eprintln!("{msg}");
            return ExitCode::from(2);
        }
    };
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("azure-emulator: {e}");
            ExitCode::FAILURE
        }
    }
}
