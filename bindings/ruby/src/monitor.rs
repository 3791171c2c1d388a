//! `monitor(name) { }`: the duration and memory growth of an operation
//! (`tasker_telemetry::monitor`), with the `slow_operation` and `memory_spike` warnings.

use std::sync::Mutex;

use magnus::{Error, RArray, Ruby, Value};

use crate::convert::text;
use crate::errors::guard;

/// A monitored operation, from its start to `finish` (or until collected).
#[magnus::wrap(class = "TaskerCore::Tracing::Native::Monitor", free_immediately, size)]
pub struct RbMonitor(Mutex<Option<tasker_telemetry::monitor::Monitor>>);

impl RbMonitor {
    /// Starts monitoring the operation `name`.
    pub fn start(ruby: &Ruby, name: Value) -> Result<RbMonitor, Error> {
        let name = text(name)?;
        guard(ruby, "monitor", || {
            Ok(RbMonitor(Mutex::new(Some(
                tasker_telemetry::monitor::Monitor::start(name),
            ))))
        })
    }

    /// Ends it: `[duration_ms, memory_delta_bytes, slow, memory_spike]`, or nil when it had
    /// ended already.
    pub fn finish(ruby: &Ruby, rb_self: &Self) -> Result<Option<RArray>, Error> {
        guard(ruby, "monitor.finish", || {
            let taken = rb_self.0.lock().unwrap_or_else(|e| e.into_inner()).take();
            let Some(monitor) = taken else {
                return Ok(None);
            };
            let r = monitor.finish();
            let out = ruby.ary_new_capa(4);
            out.push(r.duration_ms)?;
            out.push(r.memory_delta_bytes)?;
            out.push(r.slow)?;
            out.push(r.memory_spike)?;
            Ok(Some(out))
        })
    }
}
