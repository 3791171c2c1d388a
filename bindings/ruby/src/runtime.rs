//! Changes at run time (`tasker_telemetry::runtime`): levels, event sampling and rate limits,
//! slow-operation thresholds, and a reload of the configuration file.

use magnus::{Error, RHash, Ruby, Value};
use tasker_telemetry::runtime;

use crate::convert::{self, text};
use crate::errors::{foreign_error, guard};
use crate::gvl::without_gvl;

/// Sets the console filter (a level name or `RUST_LOG`-style directives); the changes made.
pub fn set_level(ruby: &Ruby, filter: Value) -> Result<Vec<String>, Error> {
    let filter = text(filter)?;
    guard(ruby, "set_level", || {
        runtime::set_level(&filter).map_err(|e| foreign_error(ruby, e))
    })
}

/// Sets the export filter of spans and exported log events; the changes made.
pub fn set_export_level(ruby: &Ruby, filter: Value) -> Result<Vec<String>, Error> {
    let filter = text(filter)?;
    guard(ruby, "set_export_level", || {
        runtime::set_export_level(&filter).map_err(|e| foreign_error(ruby, e))
    })
}

/// Sets keys that can change at run time (spelled as for `init`'s overrides), all or none; the
/// changes made.
pub fn set_runtime(ruby: &Ruby, settings: Option<RHash>) -> Result<Vec<String>, Error> {
    let settings = convert::values(settings)?;
    guard(ruby, "set_runtime", || {
        runtime::set_many(&settings).map_err(|e| foreign_error(ruby, e))
    })
}

/// Re-reads the configuration file and applies what can change at run time; the changes made.
pub fn reload_config(ruby: &Ruby) -> Result<Vec<String>, Error> {
    guard(ruby, "reload_config", || {
        without_gvl(ruby, runtime::reload)?.map_err(|e| foreign_error(ruby, e))
    })
}

/// The runtime generation: it moves on every change of the running configuration.
pub fn runtime_generation() -> u64 {
    runtime::generation()
}
