//! Leader election on a `coordination.k8s.io/v1` Lease, as Kubeflow's operator does it (client-go's
//! leader election, with the same flags and Lease fields, so the two can even share a lock).
//!
//! [`run_as_leader`] waits until this process holds the lease, runs the work (the controllers)
//! while it renews the lease every retry period, and ends in one of two ways:
//!
//! - shutdown (SIGTERM): the work is told to stop, its in-flight reconciles finish while the lease
//!   is still renewed, then the lease is released so that a standby takes over at once;
//! - the lease is lost (another holder is seen, or no renewal succeeded within the renew
//!   deadline): the work is told to stop and is cancelled outright if it has not stopped when
//!   half of the margin between renew deadline and lease duration is gone. Since the renew
//!   deadline is shorter than the lease duration, the work has stopped before any standby may
//!   take the lease.
//!
//! The decisions are in [`record`]; this module only reads and writes the Lease.

pub mod record;

use std::future::Future;
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{ObjectMeta, PostParams};
use kube::{Api, Client};
use tokio::sync::watch;
use tokio::time::{Instant, sleep, sleep_until, timeout};
use tracing::{info, warn};

use crate::error::{Error, Result};
pub use record::Timings;
use record::{Attempt, Observed};

/// Where the lock lives and who this process is.
#[derive(Debug, Clone)]
pub struct LeaderElectionConfig {
    pub lock_name: String,
    pub lock_namespace: String,
    /// Unique among the candidates: the pod name plus a random suffix.
    pub identity: String,
    pub timings: Timings,
}

/// Kubeflow's default `--leader-election-lock-name`.
pub const DEFAULT_LOCK_NAME: &str = "spark-operator-lock";

/// A candidate identity: `POD_NAME` (or the host name) and a random suffix, like client-go's.
pub fn default_identity() -> String {
    let host = std::env::var("POD_NAME")
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "spark-operator".into());
    format!("{host}_{}", uuid::Uuid::new_v4())
}

/// How the leadership ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeadershipEnd {
    /// Shut down as asked; the lease was released (or never held).
    Shutdown,
    /// The lease was lost; the work was stopped. The process should exit and start afresh.
    Lost(String),
}

/// Reads and writes the Lease; remembers what it saw, for [`record::attempt`].
struct Elector {
    api: Api<Lease>,
    config: LeaderElectionConfig,
    observed: Option<Observed>,
}

impl Elector {
    /// Acquires or renews the lease; `Ok(true)` when this process holds it afterwards.
    async fn try_acquire_or_renew(&mut self) -> Result<bool> {
        let now = Instant::now();
        let wall = jiff::Timestamp::now();
        let name = &self.config.lock_name;
        let current = self.api.get_opt(name).await?;
        let identity = &self.config.identity;
        let timings = &self.config.timings;
        let written = match current {
            None => {
                let Attempt::Create(spec) = record::attempt(identity, None, timings, now, wall)
                else {
                    return Ok(false);
                };
                let lease = Lease {
                    metadata: ObjectMeta {
                        name: Some(name.clone()),
                        namespace: Some(self.config.lock_namespace.clone()),
                        ..ObjectMeta::default()
                    },
                    spec: Some(spec),
                };
                self.api.create(&PostParams::default(), &lease).await
            }
            Some(mut lease) => {
                let spec = lease.spec.take().unwrap_or_default();
                let observed = record::observe(self.observed.take(), spec, now);
                let attempt = record::attempt(identity, Some(&observed), timings, now, wall);
                self.observed = Some(observed);
                match attempt {
                    Attempt::HeldByOther { .. } => return Ok(false),
                    Attempt::Create(spec) | Attempt::Update(spec) => {
                        lease.spec = Some(spec);
                        // Guarded by the resourceVersion just read: a concurrent writer wins alone.
                        self.api.replace(name, &PostParams::default(), &lease).await
                    }
                }
            }
        };
        match written {
            Ok(lease) => {
                self.observed = Some(Observed {
                    spec: lease.spec.unwrap_or_default(),
                    since: now,
                });
                Ok(true)
            }
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
            Err(error) => Err(error.into()),
        }
    }

    /// Whether the last record seen names another holder.
    fn other_holder(&self) -> Option<String> {
        let observed = self.observed.as_ref()?;
        record::holder(&observed.spec)
            .filter(|h| *h != self.config.identity)
            .map(str::to_string)
    }

    /// Gives the lease up, if this process still holds it.
    async fn release(&mut self) -> Result<()> {
        let Some(mut lease) = self.api.get_opt(&self.config.lock_name).await? else {
            return Ok(());
        };
        let spec = lease.spec.take().unwrap_or_default();
        if record::holder(&spec) != Some(self.config.identity.as_str()) {
            return Ok(());
        }
        lease.spec = Some(record::released(&spec, jiff::Timestamp::now()));
        self.api
            .replace(&self.config.lock_name, &PostParams::default(), &lease)
            .await?;
        Ok(())
    }
}

/// Up to 20% more than `period`, so that candidates do not try in lockstep.
fn jittered(period: Duration) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    period.mul_f64(1.0 + 0.2 * f64::from(nanos % 1000) / 1000.0)
}

/// Runs `work` while this process holds the lease (see the module docs). `on_leading` is told
/// when leadership starts and ends. `work` gets a future that resolves when it must stop.
pub async fn run_as_leader<W, Fut>(
    client: Client,
    config: LeaderElectionConfig,
    shutdown: impl Future<Output = ()> + Send,
    on_leading: impl Fn(bool) + Send,
    work: W,
) -> Result<LeadershipEnd>
where
    W: FnOnce(BoxFuture<'static, ()>) -> Fut,
    Fut: Future<Output = Result<()>> + Send + 'static,
{
    config.timings.validate().map_err(Error::Config)?;
    let timings = config.timings;
    let mut elector = Elector {
        api: Api::namespaced(client, &config.lock_namespace),
        config,
        observed: None,
    };
    let mut shutdown = std::pin::pin!(shutdown.fuse());
    let identity = elector.config.identity.clone();
    let lock = format!(
        "{}/{}",
        elector.config.lock_namespace, elector.config.lock_name
    );

    // Standing by until the lease is ours.
    info!(%identity, %lock, "waiting to acquire the leader lease");
    let mut last_renewed = loop {
        let started = Instant::now();
        let attempt = timeout(timings.retry_period, elector.try_acquire_or_renew());
        tokio::select! {
            _ = &mut shutdown => return Ok(LeadershipEnd::Shutdown),
            result = attempt => match result {
                Ok(Ok(true)) => break started,
                Ok(Ok(false)) => {}
                Ok(Err(error)) => warn!(%error, "could not read or write the leader lease"),
                Err(_) => warn!("the leader lease request timed out"),
            },
        }
        tokio::select! {
            _ = &mut shutdown => return Ok(LeadershipEnd::Shutdown),
            _ = sleep(jittered(timings.retry_period)) => {}
        }
    };
    info!(%identity, %lock, "acquired the leader lease; starting the controllers");
    on_leading(true);

    let (stop, stopped) = watch::channel(false);
    let stop_signal = async move {
        let mut stopped = stopped;
        let _ = stopped.wait_for(|s| *s).await;
    }
    .boxed();
    let mut task = tokio::spawn(work(stop_signal));
    let mut shutting_down = false;
    let mut next_renewal = last_renewed + timings.retry_period;
    let lost = loop {
        tokio::select! {
            biased;
            finished = &mut task => {
                on_leading(false);
                let finished = finished.map_err(|source| Error::Task { what: "the controllers", source });
                if let Err(error) = timeout(timings.retry_period, elector.release()).await.unwrap_or(Ok(())) {
                    warn!(%error, "could not release the leader lease; it expires on its own");
                } else {
                    info!(%identity, %lock, "released the leader lease");
                }
                finished??;
                return Ok(LeadershipEnd::Shutdown);
            }
            _ = &mut shutdown, if !shutting_down => {
                info!("shutting down: waiting for reconciles in flight, then releasing the lease");
                shutting_down = true;
                let _ = stop.send(true);
            }
            _ = sleep_until(next_renewal) => {
                let started = Instant::now();
                let deadline = last_renewed + timings.renew_deadline;
                match tokio::time::timeout_at(deadline, elector.try_acquire_or_renew()).await {
                    Ok(Ok(true)) => last_renewed = started,
                    Ok(Ok(false)) => {
                        let holder = elector.other_holder().unwrap_or_else(|| "another candidate".into());
                        break format!("the lease is now held by {holder}");
                    }
                    Ok(Err(error)) => warn!(%error, "could not renew the leader lease"),
                    Err(_) => {}
                }
                if record::renewal_overdue(last_renewed, &timings, Instant::now()) {
                    break format!("no renewal succeeded within the renew deadline ({:?})", timings.renew_deadline);
                }
                next_renewal = Instant::now() + timings.retry_period;
            }
        }
    };

    // Lost: stop acting before anyone else may take the lease.
    warn!(%identity, %lock, reason = %lost, "lost the leader lease; stopping the controllers");
    on_leading(false);
    let _ = stop.send(true);
    let margin = timings
        .lease_duration
        .saturating_sub(timings.renew_deadline)
        / 2;
    let hard_stop = last_renewed + timings.renew_deadline + margin;
    if tokio::time::timeout_at(hard_stop, &mut task).await.is_err() {
        warn!("the controllers did not stop in time; cancelling them");
        task.abort();
        let _ = task.await;
    }
    Ok(LeadershipEnd::Lost(lost))
}
