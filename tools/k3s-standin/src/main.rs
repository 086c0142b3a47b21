//! k3s-standin: a test double for `k3s server|agent` that applies k3s's
//! config-file and kube-apiserver-arg rules, refuses to start where
//! kube-apiserver would, serves OIDC discovery over mutual TLS, writes the
//! kubeconfig and speaks sd_notify. Everything lives under `$K3S_STANDIN_ROOT`.

mod args;
mod certs;
mod config;
mod duration;
mod faults;
mod files;
mod flags;
mod gostr;
mod gourl;
mod kubeconfig;
mod log;
mod notify;
mod paths;
mod serve;
mod shutdown;
mod start;
mod startlog;
mod validate;
mod yaml;

use std::process::ExitCode;

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            log::error(format!("cannot start the async runtime: {e}"));
            return ExitCode::FAILURE;
        }
    };
    ExitCode::from(runtime.block_on(start::run(argv)))
}
