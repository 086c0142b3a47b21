//! aio-prep: prepares an edge k3s host for Azure IoT Operations secure settings.
//! The binary is a thin shell around [`app::run`]; see README.md for the design.

pub mod app;
pub mod apply;
pub mod azure;
pub mod cli;
pub mod cloud;
pub mod config;
pub mod detect;
pub mod diff;
pub mod duration;
pub mod error;
pub mod hostfile;
pub mod issuer;
pub mod k3s;
pub mod lock;
pub mod paths;
pub mod plan;
pub mod report;
pub mod state;
pub mod systemd;
pub mod unitfile;
pub mod verify;
pub mod yaml;
