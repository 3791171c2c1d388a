//! The per-step path (`tasker_telemetry::foreign::run_step`) around a Ruby handler, and the
//! process's export counters.

use magnus::error::ErrorType;
use magnus::{Error, RHash, Ruby, Value};
use tasker_telemetry::foreign::{self, Outcome};

use crate::context::{parent_of, RbCorrelation};
use crate::convert;
use crate::errors::{foreign_error, guard};
use crate::span::RbSpan;

/// Runs the block as the step `message` under the Ruby side's `parent`. The block receives the
/// `execute_step` span and the step's correlation (the Ruby side makes them current in its
/// fiber-local state). An exception marks the step failed and is re-raised unchanged; `throw`,
/// `break` or `return` out of the block end the step as completed and then go on.
pub fn run_step(ruby: &Ruby, message: RHash, parent: Value) -> Result<Value, Error> {
    let fields = convert::message(Some(message))?;
    let parent = parent_of(parent);
    guard(ruby, "run_step", || {
        foreign::run_step(&fields, parent.as_ref(), |span, correlation| {
            match ruby.yield_values::<_, Value>((RbSpan(span), RbCorrelation(correlation))) {
                Ok(value) => Outcome::Ok(value),
                Err(jump) if matches!(jump.error_type(), ErrorType::Jump(_)) => {
                    Outcome::Jumped(jump)
                }
                Err(error) => Outcome::Failed {
                    description: error.to_string(),
                    error,
                },
            }
        })
        .map_err(|e| foreign_error(ruby, e))?
    })
}

/// The process's export counters as a Hash (`tasker_telemetry::stats::stats`).
pub fn stats(ruby: &Ruby) -> Result<RHash, Error> {
    let out = ruby.hash_new();
    for (key, value) in tasker_telemetry::stats::stats().pairs() {
        out.aset(ruby.to_symbol(key), value)?;
    }
    Ok(out)
}
