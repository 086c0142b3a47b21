//! k3s-standin as a library: the same code the `k3s-standin` binary runs, so tests can hold
//! aio-prep's model of k3s against this independent implementation without starting a
//! process — `config` (which files, the merge), `yaml` (yaml.v2 decoding), `flags`, `args`
//! (k3s's `GetArgs` and kube-apiserver's defaults) and `validate` (kube-apiserver's
//! start-up checks). The binary (`main.rs`) only sets up the runtime and calls [`start::run`].

pub mod args;
pub mod certs;
pub mod config;
pub mod duration;
pub mod faults;
pub mod files;
pub mod flags;
pub mod gostr;
pub mod gourl;
pub mod kubeconfig;
pub mod log;
pub mod notify;
pub mod paths;
pub mod serve;
pub mod shutdown;
pub mod start;
pub mod startlog;
pub mod validate;
pub mod yaml;
