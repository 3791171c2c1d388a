//! `TaskerCore::Tracing::Error`, `TaskerCore::Tracing::ConfigError` and the guard that keeps
//! Rust panics out of Ruby.

use magnus::value::Lazy;
use magnus::{Error, ExceptionClass, Module, Ruby};
use tasker_telemetry::foreign::{self, ForeignError};

/// `TaskerCore::Tracing::Error`: raised when telemetry cannot do what was asked.
pub static ERROR: Lazy<ExceptionClass> = Lazy::new(|ruby| {
    ruby.define_module("TaskerCore")
        .and_then(|m| m.define_module("Tracing"))
        .and_then(|m| m.define_error("Error", ruby.exception_standard_error()))
        .unwrap_or_else(|_| ruby.exception_runtime_error())
});

/// `TaskerCore::Tracing::ConfigError < Error`: an invalid configuration, or `init` called twice.
pub static CONFIG_ERROR: Lazy<ExceptionClass> = Lazy::new(|ruby| {
    let base = ruby.get_inner(&ERROR);
    ruby.define_module("TaskerCore")
        .and_then(|m| m.define_module("Tracing"))
        .and_then(|m| m.define_error("ConfigError", base))
        .unwrap_or(base)
});

/// A `TaskerCore::Tracing::Error` with `message`.
pub fn error(ruby: &Ruby, message: impl std::fmt::Display) -> Error {
    Error::new(ruby.get_inner(&ERROR), message.to_string())
}

/// The exception for a core error: `ConfigError` for configuration, `Error` otherwise.
pub fn foreign_error(ruby: &Ruby, e: impl Into<ForeignError>) -> Error {
    match e.into() {
        e @ ForeignError::Config(_) => Error::new(ruby.get_inner(&CONFIG_ERROR), e.to_string()),
        e => error(ruby, e),
    }
}

/// Runs `f`, turning a Rust panic into a `TaskerCore::Tracing::Error` naming `what` (magnus
/// would raise `fatal`, which ends the interpreter).
pub fn guard<T>(
    ruby: &Ruby,
    what: &'static str,
    f: impl FnOnce() -> Result<T, Error>,
) -> Result<T, Error> {
    foreign::catch_panic(what, f).unwrap_or_else(|e| Err(foreign_error(ruby, e)))
}
