//! Health of the process as the probes of [`crate::probe_server`] report it: components pushed
//! by the host ([`set`]), never polled, and the export books of [`crate::stats`].
//!
//! - liveness (`/health`): the process answers;
//! - readiness (`/health/ready`, [`readiness`]): not ready while a component is
//!   [`HealthStatus::Unhealthy`], while an export has failed continuously (no success since)
//!   for longer than `telemetry.health.export_failure_grace_ms`, or while a span or log export
//!   queue is fuller than `telemetry.health.max_queue_fill` of `telemetry.otlp.max_queue_size`;
//! - the detailed view (`/health/detailed`, [`detailed_json`]): overall status, components,
//!   export statistics per signal, uptime and version.
//!
//! ```
//! use tasker_telemetry::health::{self, HealthStatus};
//!
//! health::set("database", "unhealthy".parse()?, Some("connection refused"))?;
//! assert!(!health::readiness().ready);
//! health::set("database", HealthStatus::Healthy, None)?;
//! assert!(health::readiness().ready);
//! # Ok::<(), tasker_telemetry::TelemetryError>(())
//! ```

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use serde_json::{json, Value};

use crate::config::TelemetryConfig;
use crate::error::TelemetryError;
use crate::stats::{self, Signal};

/// Components a process may register (a bound on memory; [`set`] refuses new ones past it).
pub const MAX_COMPONENTS: usize = 256;

/// Characters kept of a component's name and of its reason.
const MAX_NAME_LEN: usize = 128;
const MAX_REASON_LEN: usize = 1024;

/// The status of a component, as the host reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum HealthStatus {
    /// Working.
    Healthy,
    /// Working with reduced capacity: reported, does not fail readiness.
    Degraded,
    /// Not working: readiness fails.
    Unhealthy,
}

impl HealthStatus {
    /// `healthy`, `degraded` or `unhealthy`.
    pub fn as_str(self) -> &'static str {
        match self {
            HealthStatus::Healthy => "healthy",
            HealthStatus::Degraded => "degraded",
            HealthStatus::Unhealthy => "unhealthy",
        }
    }

    /// The status named `name` (`healthy`, `degraded` or `unhealthy`, any case), as the
    /// bindings pass it; an error naming the allowed values otherwise.
    ///
    /// ```
    /// use tasker_telemetry::health::HealthStatus;
    /// assert_eq!(HealthStatus::parse("Degraded").unwrap(), HealthStatus::Degraded);
    /// assert!(HealthStatus::parse("sick").unwrap_err().to_string().contains("healthy, degraded or unhealthy"));
    /// ```
    pub fn parse(name: &str) -> Result<Self, TelemetryError> {
        match name.trim().to_ascii_lowercase().as_str() {
            "healthy" => Ok(HealthStatus::Healthy),
            "degraded" => Ok(HealthStatus::Degraded),
            "unhealthy" => Ok(HealthStatus::Unhealthy),
            _ => Err(TelemetryError::InvalidInput {
                what: "health status",
                message: format!(
                    "{:?} is not one; expected healthy, degraded or unhealthy",
                    crate::fields::truncate(name.to_owned(), 40)
                ),
            }),
        }
    }
}

impl std::str::FromStr for HealthStatus {
    type Err = TelemetryError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl std::fmt::Display for HealthStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One component's last report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Component {
    /// Its status.
    pub status: HealthStatus,
    /// Why, as reported (secrets scrubbed).
    pub reason: Option<String>,
    /// When the status last changed.
    pub since: SystemTime,
}

/// Components by name. Copy-on-write, no lock: a lock held by another thread at a `fork()`
/// would stay locked in the child.
fn cell() -> &'static ArcSwap<BTreeMap<String, Component>> {
    static COMPONENTS: OnceLock<ArcSwap<BTreeMap<String, Component>>> = OnceLock::new();
    COMPONENTS.get_or_init(|| ArcSwap::from_pointee(BTreeMap::new()))
}

/// Reports the status of `component` (e.g. `database`, `queue`); `since` changes only when the
/// status does. The reason is kept scrubbed of secrets (URL passwords, `token=…`).
///
/// Errors: an empty name or one longer than 128 characters, or a new component past
/// [`MAX_COMPONENTS`].
///
/// ```
/// use tasker_telemetry::health::{self, HealthStatus};
/// health::set("cache", HealthStatus::Degraded, Some("evicting")).unwrap();
/// assert_eq!(health::components()["cache"].status, HealthStatus::Degraded);
/// assert!(health::set("", HealthStatus::Healthy, None).is_err());
/// ```
pub fn set(
    component: &str,
    status: HealthStatus,
    reason: Option<&str>,
) -> Result<(), TelemetryError> {
    let name = component.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_LEN {
        return Err(TelemetryError::InvalidInput {
            what: "health component",
            message: format!(
                "{:?}: expected a name of 1 to {MAX_NAME_LEN} characters",
                crate::fields::truncate(component.to_owned(), 40)
            ),
        });
    }
    let reason =
        reason.map(|r| crate::fields::truncate(crate::redaction::display_url(r), MAX_REASON_LEN));
    let mut refused = false;
    cell().rcu(|current| {
        refused = false;
        let mut next = BTreeMap::clone(current);
        let since = match current.get(name) {
            Some(c) if c.status == status => c.since,
            Some(_) => SystemTime::now(),
            None if current.len() >= MAX_COMPONENTS => {
                refused = true;
                return next;
            }
            None => SystemTime::now(),
        };
        next.insert(
            name.to_owned(),
            Component {
                status,
                reason: reason.clone(),
                since,
            },
        );
        next
    });
    if refused {
        return Err(TelemetryError::InvalidInput {
            what: "health component",
            message: format!(
                "{name:?}: {MAX_COMPONENTS} components are registered already, the limit; reuse names (remove ones that are gone)"
            ),
        });
    }
    Ok(())
}

/// Forgets `component` (a subsystem that is gone); whether it was registered.
pub fn remove(component: &str) -> bool {
    let mut found = false;
    cell().rcu(|current| {
        let mut next = BTreeMap::clone(current);
        found = next.remove(component.trim()).is_some();
        next
    });
    found
}

/// The components registered now, by name.
pub fn components() -> Arc<BTreeMap<String, Component>> {
    cell().load_full()
}

static GRACE_MS: AtomicU64 = AtomicU64::new(30_000);
static MAX_FILL_BITS: AtomicU64 = AtomicU64::new(0x3FEC_CCCC_CCCC_CCCD); // 0.9

fn started() -> Instant {
    static STARTED: OnceLock<Instant> = OnceLock::new();
    *STARTED.get_or_init(Instant::now)
}

/// Takes the readiness criteria of `config` (`[telemetry.health]`); at `init`.
pub(crate) fn configure(config: &TelemetryConfig) {
    started();
    GRACE_MS.store(
        config.health.export_failure_grace.as_millis() as u64,
        Ordering::Relaxed,
    );
    MAX_FILL_BITS.store(config.health.max_queue_fill.to_bits(), Ordering::Relaxed);
}

/// Whether the process should receive work, and why not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Readiness {
    /// Ready: no unhealthy component, no export failing past its grace, no queue too full.
    pub ready: bool,
    /// Why not (one sentence each); empty when ready.
    pub reasons: Vec<String>,
}

/// Readiness now (what `/health/ready` answers).
///
/// ```
/// let r = tasker_telemetry::health::readiness();
/// assert_eq!(r.ready, r.reasons.is_empty());
/// ```
pub fn readiness() -> Readiness {
    let mut reasons = Vec::new();
    for (name, c) in components().iter() {
        if c.status == HealthStatus::Unhealthy {
            reasons.push(match &c.reason {
                Some(r) => format!("component {name} is unhealthy: {r}"),
                None => format!("component {name} is unhealthy"),
            });
        }
    }
    let books = stats::export_stats();
    let now = stats::now_unix_ms();
    let grace = GRACE_MS.load(Ordering::Relaxed);
    for signal in Signal::ALL {
        let s = books.get(signal);
        if let Some(since) = s.failing_since_ms {
            let failing = now.saturating_sub(since);
            // Still failing: something is queued or in an export request, or the last attempt
            // failed within the grace period. A failure with nothing left to send (batch
            // processors never send an empty batch, so no success could clear it) goes stale,
            // so a short outage does not leave an idle process unready for good.
            let still_trying = s.queued > 0
                || s.in_flight > 0
                || s.last_error_ms
                    .is_some_and(|at| now.saturating_sub(at) <= grace);
            if failing > grace && still_trying {
                reasons.push(format!(
                    "{} export has failed for {:.1}s (longer than telemetry.health.export_failure_grace_ms = {grace}): {}",
                    signal.as_str(),
                    failing as f64 / 1000.0,
                    s.last_error
                        .as_deref()
                        .map(crate::redaction::display_url)
                        .unwrap_or_else(|| "unknown error".to_owned())
                ));
            }
        }
    }
    let capacity = stats::queue_capacity();
    let max_fill = f64::from_bits(MAX_FILL_BITS.load(Ordering::Relaxed));
    if capacity > 0 {
        for signal in [Signal::Traces, Signal::Logs] {
            let queued = books.get(signal).queued;
            let fill = queued as f64 / capacity as f64;
            if fill > max_fill {
                reasons.push(format!(
                    "the {} export queue holds {queued} of {capacity} {} ({:.0}%, more than telemetry.health.max_queue_fill = {max_fill})",
                    signal.as_str(),
                    signal.items(),
                    fill * 100.0
                ));
            }
        }
    }
    Readiness {
        ready: reasons.is_empty(),
        reasons,
    }
}

fn time(ms: Option<u64>) -> Value {
    ms.map_or(Value::Null, |ms| {
        Value::String(crate::console::rfc3339(
            UNIX_EPOCH + Duration::from_millis(ms),
            3,
        ))
    })
}

/// The detailed view (what `/health/detailed` answers): a JSON object with `status`
/// (`healthy`, `degraded` or `unhealthy`: unhealthy when not ready, degraded when a component is
/// degraded or an export is failing within its grace), `ready`, `reasons`, `components` (each
/// with `status`, `reason`, `since`), `export` per signal (`exported`, `dropped`, `queued`,
/// `in_flight`, `queue_capacity`, `failed_exports`, `last_success`, `last_error` with `time` and
/// `message`, `failing_since`), `uptime_seconds` (since telemetry started) and `version` (of
/// this crate). Times are RFC 3339; error messages are scrubbed of credentials.
///
/// ```
/// let v: serde_json::Value = serde_json::from_str(&tasker_telemetry::health::detailed_json()).unwrap();
/// assert!(v["export"]["traces"]["exported"].is_u64());
/// ```
pub fn detailed_json() -> String {
    let readiness = readiness();
    let comps = components();
    let books = stats::export_stats();
    let capacity = stats::queue_capacity();
    let degraded = comps.values().any(|c| c.status == HealthStatus::Degraded)
        || Signal::ALL
            .iter()
            .any(|s| books.get(*s).failing_since_ms.is_some());
    let status = if !readiness.ready {
        HealthStatus::Unhealthy
    } else if degraded {
        HealthStatus::Degraded
    } else {
        HealthStatus::Healthy
    };
    let components: serde_json::Map<String, Value> = comps
        .iter()
        .map(|(name, c)| {
            (
                name.clone(),
                json!({
                    "status": c.status.as_str(),
                    "reason": c.reason,
                    "since": crate::console::rfc3339(c.since, 3),
                }),
            )
        })
        .collect();
    let export: serde_json::Map<String, Value> = Signal::ALL
        .iter()
        .map(|signal| {
            let s = books.get(*signal);
            let queue = match signal {
                Signal::Traces | Signal::Logs => json!(capacity),
                Signal::Metrics => Value::Null,
            };
            (
                signal.as_str().to_owned(),
                json!({
                    "exported": s.exported,
                    "dropped": s.dropped(),
                    "queued": s.queued,
                    "in_flight": s.in_flight,
                    "queue_capacity": queue,
                    "failed_exports": s.failed_exports,
                    "last_success": time(s.last_success_ms),
                    "last_error": s.last_error.as_ref().map(|m| json!({
                        "time": time(s.last_error_ms),
                        "message": crate::redaction::display_url(m),
                    })),
                    "failing_since": time(s.failing_since_ms),
                }),
            )
        })
        .collect();
    json!({
        "status": status.as_str(),
        "ready": readiness.ready,
        "reasons": readiness.reasons,
        "components": components,
        "export": export,
        "uptime_seconds": (started().elapsed().as_secs_f64() * 1000.0).round() / 1000.0,
        "version": env!("CARGO_PKG_VERSION"),
    })
    .to_string()
}
