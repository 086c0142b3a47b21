//! One start attempt, in the order real k3s goes: config files, flags,
//! kube-apiserver's command line and checks, then listener, certificates,
//! kubeconfig — and only then READY=1. Every attempt leaves one line in
//! starts.log, written before READY so a finished systemd job implies it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::ServerConfig;
use tokio::net::TcpListener;

use crate::faults::{self, Faults};
use crate::flags::{self, FlagEnv, Role};
use crate::paths::{self, Root};
use crate::serve::{self, Site};
use crate::shutdown::Shutdown;
use crate::startlog::StartRecord;
use crate::{args, certs, config, kubeconfig, log, notify, validate};

/// Why a start did not reach READY.
enum Stop {
    Refused(String),
    /// SIGTERM/SIGINT arrived first.
    Signalled,
}

impl From<String> for Stop {
    fn from(reason: String) -> Self {
        Stop::Refused(reason)
    }
}

enum Running {
    /// Agent, or server without kube-apiserver: nothing to serve.
    Idle { status: String },
    Serving {
        listener: TcpListener,
        tls: Arc<ServerConfig>,
        site: Arc<Site>,
        addr: SocketAddr,
    },
    /// Fault: hang without READY.
    NeverReady,
}

/// Runs the stand-in; returns the process exit code.
pub async fn run(argv: Vec<String>) -> u8 {
    let unix_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let Some(root_dir) = std::env::var_os("K3S_STANDIN_ROOT").filter(|v| !v.is_empty()) else {
        log::error("K3S_STANDIN_ROOT is not set; the stand-in only works under a root directory");
        return 1;
    };
    let root = Root::new(root_dir);
    let mut shutdown = match Shutdown::install() {
        Ok(s) => s,
        Err(e) => {
            log::error(format!("cannot install signal handlers: {e}"));
            return 1;
        }
    };
    let mut record = StartRecord {
        pid: std::process::id(),
        unix_ms,
        role: argv.first().cloned().unwrap_or_default(),
        files: Vec::new(),
        apiserver_args: Vec::new(),
        ready_unix_us: 0,
        result: String::new(),
    };

    let mut faults = Faults::default();
    let outcome = start(&root, &argv, &mut record, &mut faults, &mut shutdown).await;
    let running = match outcome {
        Ok(running) => running,
        Err(Stop::Signalled) => {
            finish(&root, &mut record, "stopped".into());
            log::info("Stopped by signal before ready");
            return 0;
        }
        Err(Stop::Refused(reason)) => {
            log::error(format!("Refusing to start: {reason}"));
            finish(&root, &mut record, format!("refused: {reason}"));
            return 1;
        }
    };

    let (serving, status) = match running {
        Running::NeverReady => {
            finish(&root, &mut record, "never-ready".into());
            log::warn("Fault injection: never-ready; not serving, not sending READY");
            shutdown.wait().await;
            log::info("Stopped by signal");
            return 0;
        }
        Running::Idle { status } => (None, status),
        Running::Serving {
            listener,
            tls,
            site,
            addr,
        } => {
            let status = match &site.discovery_issuer {
                Some(issuer) => format!("kube-apiserver on https://{addr}, issuer {issuer}"),
                None => format!(
                    "kube-apiserver on https://{addr}, discovery off (issuer is not an https URL)"
                ),
            };
            (Some(serve::serve(listener, tls, site)), status)
        }
    };

    record.ready_unix_us = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros());
    finish(&root, &mut record, "ready".into());
    match notify::send(&format!("READY=1\nSTATUS={status}\n")) {
        Ok(true) => {}
        Ok(false) => log::info("NOTIFY_SOCKET is not set; not notifying systemd"),
        Err(e) => log::error(e),
    }
    log::info(format!("k3s-standin is up and running: {status}"));

    let exit_after = async {
        match faults.exit_after_ready_ms {
            Some(ms) => tokio::time::sleep(Duration::from_millis(ms)).await,
            None => std::future::pending().await,
        }
    };
    let serving = async {
        match serving {
            Some(task) => task.await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = shutdown.wait() => {
            log::info("Stopped by signal");
            0
        }
        _ = exit_after => {
            log::error("Fault injection: exit-after-ready-ms reached; exiting 1");
            1
        }
        _ = serving => 1,
    }
}

fn finish(root: &Root, record: &mut StartRecord, result: String) {
    record.result = result;
    if let Err(e) = record.append_to(&root.standin("starts.log")) {
        log::error(format!("cannot append to starts.log: {e}"));
    }
}

async fn start(
    root: &Root,
    argv: &[String],
    record: &mut StartRecord,
    faults_out: &mut Faults,
    shutdown: &mut Shutdown,
) -> Result<Running, Stop> {
    let faults =
        faults::load(&root.standin("faults")).map_err(|e| format!("bad faults file: {e}"))?;
    *faults_out = faults.clone();
    if let Some(ms) = faults.startup_delay_ms {
        log::info(format!("Fault injection: startup delay of {ms} ms"));
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(ms)) => {}
            _ = shutdown.wait() => return Err(Stop::Signalled),
        }
    }

    let role = match argv.first().map(String::as_str) {
        Some("server") => Role::Server,
        Some("agent") => Role::Agent,
        other => {
            return Err(format!("unknown command {other:?}: expected `server` or `agent`").into())
        }
    };
    let cli = &argv[1..];
    log::info(format!(
        "Starting k3s-standin {} (pid {})",
        role.name(),
        std::process::id()
    ));

    let env_config = std::env::var("K3S_CONFIG_FILE").ok();
    let selection = config::select(env_config.as_deref(), cli);
    let loaded = config::load(root, &selection)?;
    record.files = loaded.files.clone();
    if loaded.files.is_empty() {
        log::info(format!("No config file at {}", selection.path));
    }
    for file in &loaded.files {
        log::info(format!("Read config file {file}"));
    }
    config::require_scalars(&loaded.entries, flags::is_interpreted)?;
    let settings = flags::parse(
        role,
        &config::flatten(&loaded.entries),
        cli,
        &FlagEnv::from_process(),
    )?;
    if faults.refuse {
        return Err("fault injection: refuse".to_string().into());
    }

    let idle = |status: &str| {
        if faults.never_ready {
            Running::NeverReady
        } else {
            Running::Idle {
                status: status.to_string(),
            }
        }
    };
    if role == Role::Agent {
        if settings.server.as_deref().unwrap_or("").is_empty() {
            return Err("--server is required".to_string().into());
        }
        if settings.token.as_deref().unwrap_or("").is_empty() {
            return Err("--token is required".to_string().into());
        }
        return Ok(idle("agent running (no kube-apiserver on agents)"));
    }
    if settings.disable_apiserver {
        return Ok(idle(
            "server running with --disable-apiserver (no kube-apiserver)",
        ));
    }

    let apiserver_args = args::get_args(
        args::apiserver_defaults(&settings),
        &settings.kube_apiserver_args,
    );
    record.apiserver_args = apiserver_args.clone();
    log::info(format!(
        "Running kube-apiserver {}",
        apiserver_args.join(" ")
    ));
    let apiserver = validate::check(&apiserver_args)?;
    let first_issuer = apiserver.issuers.first().cloned().unwrap_or_default();
    if faults.refuse_issuers.contains(&first_issuer) {
        return Err(format!("fault injection: refuse-issuer {first_issuer}").into());
    }
    if faults.never_ready {
        return Ok(Running::NeverReady);
    }

    let port = u16::try_from(settings.https_listen_port).map_err(|_| {
        format!(
            "listen tcp: address {}: invalid port",
            settings.https_listen_port
        )
    })?;
    let listener = TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(|e| format!("listen tcp 127.0.0.1:{port}: {e}"))?;
    let addr = listener
        .local_addr()
        .map_err(|e| format!("listen tcp 127.0.0.1:{port}: {e}"))?;
    let (bundle, generated) = certs::ensure(&root.resolve(paths::TLS_DIR))?;
    if generated {
        log::info(format!("Generated certificates in {}", paths::TLS_DIR));
    }
    let tls = serve::tls_config(&bundle)?;
    kubeconfig::write(
        &root.resolve(paths::KUBECONFIG),
        &bundle,
        addr.port(),
        settings.write_kubeconfig_mode.as_deref(),
    )?;
    log::info(format!("Wrote kubeconfig {}", paths::KUBECONFIG));
    let site = Site {
        discovery_issuer: apiserver.discovery_issuer().map(str::to_string),
        configmap: root.standin("azure-clusterconfig.json"),
    };
    Ok(Running::Serving {
        listener,
        tls,
        site: Arc::new(site),
        addr,
    })
}
