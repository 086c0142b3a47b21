use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = aio_prep::cli::Cli::parse();
    init_logging(cli.global.verbose, cli.global.quiet);
    // reqwest is built without a default crypto provider; ring is ours.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let env: Vec<(String, String)> = std::env::vars().collect();
    let code = runtime.block_on(aio_prep::app::run(
        cli,
        &env,
        &mut std::io::stdout().lock(),
        &mut std::io::stderr(),
    ));
    ExitCode::from(code)
}

/// tracing to stderr, no timestamps (journald adds them); `-v`, `-q` and `RUST_LOG`.
fn init_logging(verbose: u8, quiet: bool) {
    let level = match (quiet, verbose) {
        (true, _) => tracing::Level::ERROR,
        (false, 0) => tracing::Level::WARN,
        (false, 1) => tracing::Level::INFO,
        (false, 2) => tracing::Level::DEBUG,
        _ => tracing::Level::TRACE,
    };
    let filter: tracing_subscriber::filter::Targets = std::env::var("RUST_LOG")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            tracing_subscriber::filter::Targets::new().with_target("aio_prep", level)
        });
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let _ = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .without_time()
                .with_writer(std::io::stderr)
                .with_ansi(false),
        )
        .with(filter)
        .try_init();
}
