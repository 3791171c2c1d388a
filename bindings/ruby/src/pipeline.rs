//! Life cycle (start-up at `require`, `init`, `flush`, `shutdown`, fork hooks), levels, metrics
//! and lifecycle events. What each does is the core's (`tasker_telemetry::foreign`); this file
//! converts arguments and releases the GVL around anything that may wait.

use magnus::{Error, RArray, RHash, Ruby, Value};
use tasker_telemetry::{foreign, pipeline};

use crate::context::{correlation_of, parent_of};
use crate::convert::{self, opt_text, text};
use crate::errors::{foreign_error, guard};
use crate::gvl::{wait, without_gvl};

/// What the gem does at `require`: console logging, export when the environment asks for it.
/// Returns `[exporting, problem]` (the error line already printed, or nil).
pub fn startup(ruby: &Ruby) -> Result<RArray, Error> {
    let started = guard(ruby, "startup", || without_gvl(ruby, foreign::startup))?;
    let out = ruby.ary_new_capa(2);
    out.push(started.exporting)?;
    out.push(started.problem)?;
    Ok(out)
}

/// `TaskerCore::Tracing.init(config_path:, **overrides)`.
pub fn init(ruby: &Ruby, path: Value, overrides: Option<RHash>) -> Result<(), Error> {
    let path = opt_text(path)?;
    let overrides = convert::values(overrides)?;
    guard(ruby, "init", || {
        let path = path.as_deref().map(std::path::Path::new);
        without_gvl(ruby, || {
            foreign::init("TaskerCore::Tracing.init", path, &overrides)
        })?
        .map_err(|e| foreign_error(ruby, e))
    })
}

/// A flush or shutdown timeout in seconds (nil: the configured shutdown timeout).
fn timeout(ruby: &Ruby, seconds: Option<f64>) -> Result<std::time::Duration, Error> {
    foreign::timeout(seconds).map_err(|e| foreign_error(ruby, e))
}

pub fn flush(ruby: &Ruby, seconds: Option<f64>) -> Result<(), Error> {
    let timeout = timeout(ruby, seconds)?;
    let pending = without_gvl(ruby, || pipeline::start_flush(timeout))?;
    wait(ruby, pending)?.map_err(|e| foreign_error(ruby, e))
}

pub fn shutdown(ruby: &Ruby, seconds: Option<f64>) -> Result<(), Error> {
    let timeout = timeout(ruby, seconds)?;
    let pending = without_gvl(ruby, || pipeline::start_shutdown(timeout))?;
    wait(ruby, pending)?.map_err(|e| foreign_error(ruby, e))
}

/// Waits for nothing (see `tasker_telemetry::pipeline::before_fork`): the GVL stays held.
pub fn before_fork() {
    tasker_telemetry::before_fork();
}

pub fn after_fork_in_child(ruby: &Ruby) -> Result<(), Error> {
    guard(ruby, "after_fork_in_child", || {
        tasker_telemetry::after_fork_in_child().map_err(|e| foreign_error(ruby, e))
    })
}

/// The core's level names and indices (`tasker_telemetry::level::LEVEL_NAMES`), as a Hash of
/// Symbols.
pub fn level_names(ruby: &Ruby) -> Result<RHash, Error> {
    let out = ruby.hash_new();
    for (name, index) in tasker_telemetry::level::LEVEL_NAMES {
        out.aset(ruby.to_symbol(name), *index)?;
    }
    Ok(out)
}

/// The most verbose level any output records (0 = trace … 4 = error, 5 = off).
pub fn max_level() -> u8 {
    tasker_telemetry::dynamic::max_level_index()
}

pub fn record_metric(
    ruby: &Ruby,
    kind: Value,
    name: Value,
    value: f64,
    labels: Option<RHash>,
) -> Result<(), Error> {
    let (kind, name, labels) = (text(kind)?, text(name)?, convert::fields(labels)?);
    guard(ruby, "metric", || {
        foreign::record_metric(&kind, &name, value, &labels).map_err(|e| foreign_error(ruby, e))
    })
}

pub fn lifecycle(
    ruby: &Ruby,
    name: Value,
    duration_ms: Option<f64>,
    labels: Option<RHash>,
    fields: Option<RHash>,
    parent: Value,
    correlation: Value,
) -> Result<(), Error> {
    let (name, labels, fields) = (
        text(name)?,
        convert::fields(labels)?,
        convert::fields(fields)?,
    );
    let (parent, correlation) = (parent_of(parent), correlation_of(correlation));
    let (p, c) = (parent.as_ref(), correlation.as_ref());
    guard(ruby, "lifecycle", || {
        foreign::lifecycle(&name, duration_ms, &labels, &fields, p, c)
            .map_err(|e| foreign_error(ruby, e))
    })
}
