//! systemd over D-Bus (zbus): read a unit's ExecStart/Environment, and restart it the safe
//! way — `Subscribe()` first, then `RestartUnit(unit, "replace")`, then wait for *our*
//! job's `JobRemoved` under our own deadline (SPEC §2). The bus is the system bus, which
//! zbus takes from `DBUS_SYSTEM_BUS_ADDRESS` when set.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use zbus::OwnedObjectPath;

#[zbus::proxy(
    interface = "org.freedesktop.systemd1.Manager",
    default_service = "org.freedesktop.systemd1",
    default_path = "/org/freedesktop/systemd1"
)]
trait Manager {
    fn subscribe(&self) -> zbus::Result<()>;
    fn load_unit(&self, name: &str) -> zbus::Result<OwnedObjectPath>;
    fn restart_unit(&self, name: &str, mode: &str) -> zbus::Result<OwnedObjectPath>;
    fn reset_failed_unit(&self, name: &str) -> zbus::Result<()>;
    #[zbus(signal)]
    fn job_removed(
        &self,
        id: u32,
        job: OwnedObjectPath,
        unit: String,
        result: String,
    ) -> zbus::Result<()>;
}

#[zbus::proxy(
    interface = "org.freedesktop.systemd1.Unit",
    default_service = "org.freedesktop.systemd1"
)]
trait Unit {
    #[zbus(property)]
    fn load_state(&self) -> zbus::Result<String>;
    #[zbus(property)]
    fn active_state(&self) -> zbus::Result<String>;
    #[zbus(property)]
    fn fragment_path(&self) -> zbus::Result<String>;
}

type ExecCommand = (String, Vec<String>, bool, u64, u64, u64, u64, u32, i32, i32);

#[zbus::proxy(
    interface = "org.freedesktop.systemd1.Service",
    default_service = "org.freedesktop.systemd1"
)]
trait Service {
    #[zbus(property)]
    fn exec_start(&self) -> zbus::Result<Vec<ExecCommand>>;
    #[zbus(property)]
    fn environment(&self) -> zbus::Result<Vec<String>>;
    #[zbus(property)]
    fn environment_files(&self) -> zbus::Result<Vec<(String, bool)>>;
    /// Why the service last stopped or failed: `success`, `exit-code`, `start-limit-hit`, ...
    #[zbus(property)]
    fn result(&self) -> zbus::Result<String>;
}

#[derive(Debug, thiserror::Error)]
pub enum SystemdError {
    #[error("cannot reach systemd on the system bus: {0}")]
    Connect(#[source] zbus::Error),
    #[error("systemd D-Bus call {call} failed: {source}")]
    Call {
        call: &'static str,
        #[source]
        source: zbus::Error,
    },
    #[error("{unit}: restart job ended with result {result:?} (unit result: {unit_result})")]
    JobFailed {
        unit: String,
        result: String,
        unit_result: String,
    },
    #[error("{unit}: not back after {waited:?} (restart deadline)")]
    Deadline { unit: String, waited: Duration },
}

fn call(call: &'static str) -> impl FnOnce(zbus::Error) -> SystemdError {
    move |source| SystemdError::Call { call, source }
}

/// What systemd says about a unit.
#[derive(Debug, Clone, Default)]
pub struct UnitInfo {
    pub name: String,
    pub load_state: String,
    pub active_state: String,
    pub fragment_path: String,
    /// argv of each ExecStart command.
    pub exec_start: Vec<Vec<String>>,
    pub environment: Vec<String>,
    pub environment_files: Vec<String>,
}

impl UnitInfo {
    pub fn is_loaded(&self) -> bool {
        self.load_state == "loaded"
    }
}

/// How a restart went.
#[derive(Debug, Clone)]
pub struct Restarted {
    pub job: String,
    pub waited: Duration,
    /// When our JobRemoved arrived, µs since the epoch (for the READY→noticed benchmark).
    pub noticed_unix_us: u128,
}

pub struct Systemd {
    conn: zbus::Connection,
}

impl Systemd {
    pub async fn connect() -> Result<Systemd, SystemdError> {
        let conn = zbus::Connection::system()
            .await
            .map_err(SystemdError::Connect)?;
        Ok(Systemd { conn })
    }

    async fn manager(&self) -> Result<ManagerProxy<'_>, SystemdError> {
        ManagerProxy::new(&self.conn).await.map_err(call("Manager"))
    }

    pub async fn unit_info(&self, name: &str) -> Result<UnitInfo, SystemdError> {
        let manager = self.manager().await?;
        let path = manager.load_unit(name).await.map_err(call("LoadUnit"))?;
        let unit = UnitProxy::builder(&self.conn)
            .path(path.clone())
            .cache_properties(zbus::proxy::CacheProperties::No)
            .build()
            .await
            .map_err(call("Unit"))?;
        let mut info = UnitInfo {
            name: name.to_string(),
            load_state: unit.load_state().await.map_err(call("Get LoadState"))?,
            active_state: unit.active_state().await.map_err(call("Get ActiveState"))?,
            fragment_path: unit.fragment_path().await.unwrap_or_default(),
            ..UnitInfo::default()
        };
        if !info.is_loaded() {
            return Ok(info);
        }
        let service = self.service(path).await?;
        info.exec_start = service
            .exec_start()
            .await
            .map_err(call("Get ExecStart"))?
            .into_iter()
            .map(|c| c.1)
            .collect();
        info.environment = service
            .environment()
            .await
            .map_err(call("Get Environment"))?;
        info.environment_files = service
            .environment_files()
            .await
            .map_err(call("Get EnvironmentFiles"))?
            .into_iter()
            .map(|(p, _)| p)
            .collect();
        Ok(info)
    }

    /// The `org.freedesktop.systemd1.Service` interface of the unit at `path`, uncached.
    async fn service(&self, path: OwnedObjectPath) -> Result<ServiceProxy<'_>, SystemdError> {
        ServiceProxy::builder(&self.conn)
            .path(path)
            .cache_properties(zbus::proxy::CacheProperties::No)
            .build()
            .await
            .map_err(call("Service"))
    }

    /// The service's `Result` property, or `unknown` when it cannot be read.
    async fn service_result(&self, name: &str) -> String {
        let read = async {
            let path = self
                .manager()
                .await?
                .load_unit(name)
                .await
                .map_err(call("LoadUnit"))?;
            let service = self.service(path).await?;
            service.result().await.map_err(call("Get Result"))
        };
        read.await
            .unwrap_or_else(|_: SystemdError| "unknown".into())
    }

    /// Clears a failed state and the start rate-limit counter (`systemctl reset-failed`), so a
    /// rollback can start k3s even after restarts in quick succession hit `start-limit-hit`.
    pub async fn reset_failed(&self, name: &str) -> Result<(), SystemdError> {
        self.manager()
            .await?
            .reset_failed_unit(name)
            .await
            .map_err(call("ResetFailedUnit"))
    }

    pub async fn active_state(&self, name: &str) -> Result<String, SystemdError> {
        Ok(self.unit_info(name).await?.active_state)
    }

    /// Restarts `unit` and waits for our job to finish, at most until `deadline`.
    /// `progress` is called about every second with the time waited so far.
    pub async fn restart(
        &self,
        unit: &str,
        deadline: Duration,
        mut progress: impl FnMut(Duration),
    ) -> Result<Restarted, SystemdError> {
        let manager = self.manager().await?;
        // A second restart on this connection (rollback) is already subscribed: fine.
        match manager.subscribe().await {
            Ok(()) => {}
            Err(zbus::Error::MethodError(name, _, _))
                if name.as_str() == "org.freedesktop.systemd1.AlreadySubscribed" => {}
            Err(e) => {
                return Err(SystemdError::Call {
                    call: "Subscribe",
                    source: e,
                })
            }
        }
        let mut removed = manager
            .receive_job_removed()
            .await
            .map_err(call("AddMatch JobRemoved"))?;
        let started = Instant::now();
        let job = manager
            .restart_unit(unit, "replace")
            .await
            .map_err(call("RestartUnit"))?;
        tracing::debug!(unit, job = %job.as_str(), "restart job queued");
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.tick().await;
        loop {
            let remaining = deadline.saturating_sub(started.elapsed());
            tokio::select! {
                signal = removed.next() => {
                    let Some(signal) = signal else {
                        return Err(SystemdError::Call { call: "JobRemoved", source: zbus::Error::Failure("signal stream ended".into()) });
                    };
                    let noticed_unix_us = now_unix_us();
                    let args = signal.args().map_err(call("JobRemoved args"))?;
                    if args.job.as_str() != job.as_str() {
                        continue;
                    }
                    let waited = started.elapsed();
                    tracing::debug!(unit, result = %args.result, ?waited, "restart job removed");
                    if args.result != "done" {
                        let unit_result = self.service_result(unit).await;
                        return Err(SystemdError::JobFailed { unit: unit.to_string(), result: args.result.to_string(), unit_result });
                    }
                    return Ok(Restarted { job: job.as_str().to_string(), waited, noticed_unix_us });
                }
                _ = tick.tick() => progress(started.elapsed()),
                _ = tokio::time::sleep(remaining) => {
                    return Err(SystemdError::Deadline { unit: unit.to_string(), waited: started.elapsed() });
                }
            }
        }
    }
}

pub fn now_unix_us() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros())
}
