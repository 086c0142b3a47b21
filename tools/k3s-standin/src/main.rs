//! k3s-standin: a test double for `k3s server|agent` that applies k3s's
//! config-file and kube-apiserver-arg rules, refuses to start where
//! kube-apiserver would, serves OIDC discovery over mutual TLS, writes the
//! kubeconfig and speaks sd_notify. Everything lives under `$K3S_STANDIN_ROOT`.

use std::process::ExitCode;

use k3s_standin::{log, start};

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
