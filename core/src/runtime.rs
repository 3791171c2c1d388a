//! Changes while the process runs, without a restart: the console and export levels, the event
//! rules of `[telemetry.events]` ([`crate::events`]) and `telemetry.reload_on_sighup`, set
//! through this API (the Ruby and Python `set_level` and friends call it with plain strings and
//! numbers) or by re-reading the configuration file ([`reload`], which `SIGHUP` runs, see
//! [`crate::sighup`]).
//!
//! Every change is validated like the same key in a file (an error names the key and what it
//! accepts, and nothing changes), applied at once (events emitted meanwhile on other threads
//! are filtered by the old or the new setting, none is lost), and logged as one line (target
//! [`TARGET`]) naming each key with its old and new value.
//!
//! Other modules join with [`register`]: the keys they own become changeable here and their
//! `apply` runs on every change.
//!
//! Bindings that cache the most verbose level enabled ([`crate::dynamic::max_level_index`])
//! refresh it when [`generation`] moves; [`wait_for_change`] lets a helper thread of theirs
//! block until it does.
//!
//! ```no_run
//! use tasker_telemetry::{init, runtime, TelemetryConfig};
//!
//! let _guard = init(TelemetryConfig::load()?)?;
//! let changes = runtime::set_level("info,payments=debug")?;
//! assert_eq!(changes, ["telemetry.logging.level: info → info,payments=debug"]);
//! runtime::set("events.sample_rate", &0.25.into())?;
//! # Ok::<(), tasker_telemetry::ConfigError>(())
//! ```

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, RwLock};
use std::time::Duration;

use crate::config::{EventsConfig, ProcessEnv, TelemetryConfig};
use crate::error::ConfigError;
use crate::fields::FieldValue;

/// Target of the lines that report a change or a failed reload (never suppressed).
pub const TARGET: &str = "tasker_telemetry::runtime";

/// The keys the core changes at run time.
pub const RUNTIME_KEYS: &[&str] = &[
    "telemetry.logging.level",
    "telemetry.logging.export_level",
    "telemetry.events.sample_rate",
    "telemetry.events.sampling",
    "telemetry.events.rate_limit_per_s",
    "telemetry.events.rate_limit_burst",
    "telemetry.events.filtered",
    "telemetry.events.exempt_level",
    "telemetry.events.summary_interval_ms",
    "telemetry.reload_on_sighup",
];

/// Settings another module applies at run time (e.g. slow-operation thresholds): registered
/// once with [`register`], then part of every [`set`] and [`reload`].
#[derive(Debug, Clone, Copy)]
pub struct Reloadable {
    /// The configuration keys it owns (`telemetry.…`), for messages.
    pub keys: &'static [&'static str],
    /// Copies its settings from `from` into `into` (how a reload picks them out of a new
    /// configuration, and how a change of anything else is told apart).
    pub take: fn(from: &TelemetryConfig, into: &mut TelemetryConfig),
    /// Applies `new` where it differs from `old`; returns one `key: old → new` per change.
    pub apply: fn(old: &TelemetryConfig, new: &TelemetryConfig) -> Vec<String>,
}

static HOOKS: RwLock<Vec<Reloadable>> = RwLock::new(Vec::new());

/// Makes `settings` changeable at run time.
pub fn register(settings: Reloadable) {
    HOOKS
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .push(settings);
}

fn hooks() -> Vec<Reloadable> {
    let mut all = vec![crate::slow_operations::RELOADABLE];
    all.extend(HOOKS.read().map(|h| h.clone()).unwrap_or_default());
    all
}

static GENERATION: AtomicU64 = AtomicU64::new(0);
static CHANGED: (Mutex<()>, Condvar) = (Mutex::new(()), Condvar::new());

/// Counts configuration changes (init, runtime changes, reloads): when it moves, a binding's
/// cached level ([`crate::dynamic::max_level_index`]) must be read again.
pub fn generation() -> u64 {
    GENERATION.load(Ordering::Acquire)
}

/// Waits until [`generation`] is other than `seen` (at most `timeout`) and returns it. For a
/// binding's helper thread that refreshes cached levels (call it without the interpreter's lock).
pub fn wait_for_change(seen: u64, timeout: Duration) -> u64 {
    let (lock, cv) = &CHANGED;
    let guard = lock.lock().unwrap_or_else(|e| e.into_inner());
    let _unused = cv
        .wait_timeout_while(guard, timeout, |_| generation() == seen)
        .unwrap_or_else(|e| e.into_inner());
    generation()
}

/// A configuration change took effect.
pub(crate) fn changed() {
    let (lock, cv) = &CHANGED;
    // Under the lock, so that a waiter between its check and its sleep does not miss it.
    let _guard = lock.lock().unwrap_or_else(|e| e.into_inner());
    GENERATION.fetch_add(1, Ordering::AcqRel);
    cv.notify_all();
}

/// Copies every setting that can change at run time from `from` into `into`.
fn take_runtime(from: &TelemetryConfig, into: &mut TelemetryConfig, hooks: &[Reloadable]) {
    into.logging.level = from.logging.level.clone();
    into.logging.export_level = from.logging.export_level.clone();
    into.events = from.events.clone();
    into.reload_on_sighup = from.reload_on_sighup;
    for h in hooks {
        (h.take)(from, into);
    }
}

fn arrow(key: &str, old: impl std::fmt::Display, new: impl std::fmt::Display) -> String {
    format!("{key}: {old} → {new}")
}

fn show_rates(r: &BTreeMap<String, f64>) -> String {
    let inner: Vec<String> = r.iter().map(|(k, v)| format!("{k:?} = {v}")).collect();
    format!("{{{}}}", inner.join(", "))
}

fn show_level(l: Option<tracing::Level>) -> String {
    l.map_or("off".to_owned(), |l| l.as_str().to_ascii_lowercase())
}

fn events_changes(old: &EventsConfig, new: &EventsConfig, out: &mut Vec<String>) {
    let k = "telemetry.events.";
    if old.sample_rate != new.sample_rate {
        out.push(arrow(
            &format!("{k}sample_rate"),
            old.sample_rate,
            new.sample_rate,
        ));
    }
    if old.sampling != new.sampling {
        out.push(arrow(
            &format!("{k}sampling"),
            show_rates(&old.sampling),
            show_rates(&new.sampling),
        ));
    }
    if old.rate_limit_per_s != new.rate_limit_per_s {
        out.push(arrow(
            &format!("{k}rate_limit_per_s"),
            old.rate_limit_per_s,
            new.rate_limit_per_s,
        ));
    }
    if old.rate_limit_burst != new.rate_limit_burst {
        let show = |b: Option<u32>| b.map_or("unset".to_owned(), |b| b.to_string());
        out.push(arrow(
            &format!("{k}rate_limit_burst"),
            show(old.rate_limit_burst),
            show(new.rate_limit_burst),
        ));
    }
    if old.filtered != new.filtered {
        out.push(arrow(
            &format!("{k}filtered"),
            format!("{:?}", old.filtered),
            format!("{:?}", new.filtered),
        ));
    }
    if old.exempt_level != new.exempt_level {
        out.push(arrow(
            &format!("{k}exempt_level"),
            show_level(old.exempt_level),
            show_level(new.exempt_level),
        ));
    }
    if old.summary_interval != new.summary_interval {
        out.push(arrow(
            &format!("{k}summary_interval_ms"),
            old.summary_interval.as_millis(),
            new.summary_interval.as_millis(),
        ));
    }
}

/// Applies the runtime settings of `new` over the configuration in force; the changes, each
/// `key: old → new`. Logs them (or a failure) in one line.
fn apply(call: &'static str, why: &str, new: TelemetryConfig) -> Result<Vec<String>, ConfigError> {
    let hooks = hooks();
    let result = crate::pipeline::change_config(call, |old| {
        let mut next = old.clone();
        take_runtime(&new, &mut next, &hooks);
        let mut changes = Vec::new();
        if old.logging.level != next.logging.level {
            crate::pipeline::reload_console_filter(&next)?;
            changes.push(arrow(
                "telemetry.logging.level",
                &old.logging.level,
                &next.logging.level,
            ));
        }
        if old.logging.export_level != next.logging.export_level {
            if let Err(e) = crate::pipeline::reload_export_filters(&next) {
                // Keep the console as it was too: all or nothing.
                let _ = crate::pipeline::reload_console_filter(old);
                return Err(e);
            }
            changes.push(arrow(
                "telemetry.logging.export_level",
                &old.logging.export_level,
                &next.logging.export_level,
            ));
        }
        if old.events != next.events {
            crate::events::configure(&next.events);
            events_changes(&old.events, &next.events, &mut changes);
        }
        if old.reload_on_sighup != next.reload_on_sighup {
            changes.push(arrow(
                "telemetry.reload_on_sighup",
                old.reload_on_sighup,
                next.reload_on_sighup,
            ));
        }
        for h in &hooks {
            changes.extend((h.apply)(old, &next));
        }
        Ok((next, changes))
    });
    match &result {
        Ok(changes) if changes.is_empty() => {
            tracing::info!(target: TARGET, "telemetry settings unchanged ({why})");
        }
        Ok(changes) => {
            changed();
            let line = format!("telemetry settings changed ({why}): {}", changes.join("; "));
            // Where the console now hides info lines, a warning, so that the change is seen.
            let info_shown = crate::pipeline::current_config()
                .is_some_and(|c| crate::pipeline::console_shows_info(&c));
            if info_shown {
                tracing::info!(target: TARGET, "{line}");
            } else {
                tracing::warn!(target: TARGET, "{line}");
            }
        }
        Err(e) => {
            not_changed(why, e);
        }
    }
    result
}

/// The one error line of a change that was refused: what asked for it, and why not.
fn not_changed(why: &str, e: &ConfigError) {
    tracing::error!(target: TARGET, "telemetry settings not changed ({why}): {e}");
}

/// One change at a time: a change edits a copy of the configuration in force and then applies
/// every runtime setting of that copy, so two at once would undo each other.
static CHANGING: Mutex<()> = Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    CHANGING.lock().unwrap_or_else(|e| e.into_inner())
}

/// Changes one or more keys from a copy of the configuration in force.
fn change(
    call: &'static str,
    key_for_errors: &str,
    edit: impl FnOnce(&mut TelemetryConfig) -> Result<(), ConfigError>,
) -> Result<Vec<String>, ConfigError> {
    let _one = one_at_a_time();
    let current = crate::pipeline::current_config().ok_or(ConfigError::NotInitialized { call })?;
    let mut new = current.clone();
    if let Err(e) = edit(&mut new) {
        not_changed(call, &e);
        return Err(e);
    }
    // Anything else that changed cannot be applied now.
    let hooks = hooks();
    let mut rest = new.clone();
    take_runtime(&current, &mut rest, &hooks);
    if rest != current {
        let mut allowed: Vec<&str> = RUNTIME_KEYS.to_vec();
        allowed.extend(hooks.iter().flat_map(|h| h.keys.iter().copied()));
        let e = ConfigError::NotChangeableAtRuntime {
            key: key_for_errors.to_owned(),
            allowed: allowed.join(", "),
        };
        not_changed(call, &e);
        return Err(e);
    }
    apply(call, call, new)
}

/// Sets the console filter (`telemetry.logging.level`): a level name (`debug`, `warning`, …) or
/// `RUST_LOG`-style directives (`info,payments=debug`). The changes, as logged.
///
/// Errors: [`ConfigError::InvalidValue`] naming the key and the problem (nothing changes);
/// [`ConfigError::NotInitialized`] before `init_logging`/`init`.
pub fn set_level(filter: &str) -> Result<Vec<String>, ConfigError> {
    change("set_level", "telemetry.logging.level", |c| {
        c.set("logging.level", filter)
    })
}

/// Sets the export filter of spans and exported log events (`telemetry.logging.export_level`).
pub fn set_export_level(filter: &str) -> Result<Vec<String>, ConfigError> {
    change("set_export_level", "telemetry.logging.export_level", |c| {
        c.set("logging.export_level", filter)
    })
}

/// Sets the sampling of log events: the share kept by default (`telemetry.events.sample_rate`)
/// and per name or target (`telemetry.events.sampling`, replaced whole).
///
/// ```no_run
/// let rates = [("payments::charge".to_owned(), 0.1)].into_iter().collect();
/// tasker_telemetry::runtime::set_event_sampling(1.0, &rates)?;
/// # Ok::<(), tasker_telemetry::ConfigError>(())
/// ```
pub fn set_event_sampling(
    default_rate: f64,
    rates: &BTreeMap<String, f64>,
) -> Result<Vec<String>, ConfigError> {
    change("set_event_sampling", "telemetry.events.sampling", |c| {
        c.set_value("events.sample_rate", &FieldValue::Float(default_rate))?;
        let table = FieldValue::Map(
            rates
                .iter()
                .map(|(k, v)| (k.clone(), FieldValue::Float(*v)))
                .collect(),
        );
        c.set_value("events.sampling", &table)
    })
}

/// Sets the per-callsite rate limit of log events (`telemetry.events.rate_limit_per_s`, `0` =
/// none, and `telemetry.events.rate_limit_burst`, `None` = the rate).
pub fn set_rate_limit(per_second: f64, burst: Option<u32>) -> Result<Vec<String>, ConfigError> {
    change("set_rate_limit", "telemetry.events.rate_limit_per_s", |c| {
        c.set_value("events.rate_limit_per_s", &FieldValue::Float(per_second))?;
        c.events.rate_limit_burst = None;
        match burst {
            Some(b) => c.set_value("events.rate_limit_burst", &FieldValue::Int(i64::from(b))),
            None => Ok(()),
        }
    })
}

/// Sets the event names or targets always dropped (`telemetry.events.filtered`).
pub fn set_filtered_events(names: &[String]) -> Result<Vec<String>, ConfigError> {
    change("set_filtered_events", "telemetry.events.filtered", |c| {
        let list = FieldValue::List(names.iter().map(|n| FieldValue::from(n.as_str())).collect());
        c.set_value("events.filtered", &list)
    })
}

/// Sets any key that can change at run time ([`RUNTIME_KEYS`] and those of [`register`]ed
/// modules), spelled as for [`TelemetryConfig::set_value`] (`events.sample_rate`,
/// `logging_level`, …); another key is [`ConfigError::NotChangeableAtRuntime`].
pub fn set(key: &str, value: &FieldValue) -> Result<Vec<String>, ConfigError> {
    change("set", key, |c| c.set_value(key, value))
}

/// Sets several keys that can change at run time in one change: all of them, or none when one
/// is refused (a bad value, a key that needs a restart); one log line. The bindings'
/// `set_runtime(**settings)`.
pub fn set_many(settings: &[(String, FieldValue)]) -> Result<Vec<String>, ConfigError> {
    let keys: Vec<&str> = settings.iter().map(|(k, _)| k.as_str()).collect();
    change("set", &keys.join(", "), |c| {
        for (key, value) in settings {
            c.set_value(key, value)?;
        }
        Ok(())
    })
}

/// Re-reads the configuration file the running configuration came from (with its `TASKER_ENV`
/// overlay and the environment variables, as at start-up) and applies what can change at run
/// time. A file that cannot be read or holds a bad value changes nothing: the error (naming the
/// key) is returned and logged. Programmatic overrides given at `init` are not re-applied: the
/// file and the environment decide. Settings that cannot change at run time but differ are
/// named in the line, for the next start.
pub fn reload() -> Result<Vec<String>, ConfigError> {
    const CALL: &str = "reload";
    let _one = one_at_a_time();
    let current =
        crate::pipeline::current_config().ok_or(ConfigError::NotInitialized { call: CALL })?;
    let Some(path) = current.config_file.clone() else {
        let e = ConfigError::NoConfigFile { call: CALL };
        tracing::error!(target: TARGET, "{e}");
        return Err(e);
    };
    let why = format!("reload of {}", path.display());
    let new = match TelemetryConfig::load_from(Some(&path), &ProcessEnv) {
        Ok(new) => new,
        Err(e) => {
            not_changed(&why, &e);
            return Err(e);
        }
    };
    let later = restart_only_changes(&current, &new);
    let why = if later.is_empty() {
        why
    } else {
        format!(
            "{why}; changed there but applied only at the next start: {}",
            later.join(", ")
        )
    };
    apply(CALL, &why, new)
}

/// The sections that differ between `old` and `new` besides what changes at run time.
fn restart_only_changes(old: &TelemetryConfig, new: &TelemetryConfig) -> Vec<&'static str> {
    let mut new = new.clone();
    take_runtime(old, &mut new, &hooks());
    let mut out = Vec::new();
    let mut differs = |yes: bool, key: &'static str| {
        if yes {
            out.push(key);
        }
    };
    differs(
        old.service_name != new.service_name,
        "telemetry.service_name",
    );
    differs(
        old.service_version != new.service_version,
        "telemetry.service_version",
    );
    differs(old.enabled != new.enabled, "telemetry.enabled");
    differs(
        old.resource_attributes != new.resource_attributes,
        "telemetry.resource_attributes",
    );
    differs(old.propagators != new.propagators, "telemetry.propagators");
    differs(old.otlp != new.otlp, "telemetry.otlp");
    differs(old.sampling != new.sampling, "telemetry.sampling");
    differs(old.spans != new.spans, "telemetry.spans");
    differs(old.metrics != new.metrics, "telemetry.metrics");
    differs(old.logging != new.logging, "telemetry.logging");
    differs(
        old.environment != new.environment,
        "TASKER_ENV (deployment.environment.name)",
    );
    differs(old.prometheus != new.prometheus, "telemetry.prometheus");
    differs(old.health != new.health, "telemetry.health");
    differs(
        old.opentelemetry_bridge != new.opentelemetry_bridge,
        "telemetry.opentelemetry_bridge",
    );
    // A section added later and not named above still gets said, if not by name.
    new.config_file.clone_from(&old.config_file);
    if out.is_empty() && *old != new {
        out.push("other telemetry settings");
    }
    out
}
