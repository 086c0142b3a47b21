//! The command line (SPEC §1), shared by the binary and the build-time man page and
//! completion generation.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Human,
    Json,
}

#[derive(Debug, Parser)]
#[command(name = "aio-prep", version, about = "Prepare an edge k3s host for Azure IoT Operations secure settings", long_about = None)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// aio-prep config file (default /etc/aio-prep/config.toml under --root)
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Resolve every host path under DIR (tests, image builds)
    #[arg(
        long,
        global = true,
        value_name = "DIR",
        default_value = "/",
        env = "AIO_PREP_ROOT"
    )]
    pub root: PathBuf,
    /// Output format
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Human)]
    pub output: OutputFormat,
    /// Issuer URL to use verbatim (offline mode: no Azure calls)
    #[arg(long, global = true, value_name = "URL")]
    pub issuer_url: Option<String>,
    /// How long to wait for another run's lock
    #[arg(long, global = true, value_name = "DURATION", default_value = "60s")]
    pub lock_timeout: String,
    /// More log output (repeat for more)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only errors
    #[arg(short, long, global = true)]
    pub quiet: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Flavor, node role, config path, unit and evidence; changes nothing
    Detect,
    /// What apply would change (cloud and host, config diff); changes nothing
    Plan,
    /// Converge cloud and host to the desired state; idempotent
    Apply,
    /// Is the desired state in effect (file and running API server)?
    Status,
    /// Restore the config saved by the last apply, restart, verify
    Rollback,
    /// Show or edit aio-prep's configuration
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Print shell completions
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff)
    Man,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Set KEY to VALUE in the config file, keeping comments
    Set { key: String, value: String },
    /// Effective configuration after all layers, with where each value came from
    Show,
}
