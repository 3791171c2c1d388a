//! Errors returned by configuration loading and initialisation.

use std::path::PathBuf;

/// Where a configuration value came from, for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A TOML file (the base file or the `TASKER_ENV` overlay).
    File(PathBuf),
    /// An environment variable.
    Env(&'static str),
    /// A programmatic override (`TelemetryConfig::set`, binding keyword arguments).
    Override,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::File(path) => write!(f, "config file {}", path.display()),
            Origin::Env(name) => write!(f, "environment variable {name}"),
            Origin::Override => f.write_str("override"),
        }
    }
}

/// Everything that can go wrong while loading configuration or initialising telemetry.
///
/// Every message names what is wrong and, where a value was given, the key, the value and what
/// is allowed, so a user can fix it without reading the source.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The configuration file could not be read.
    #[error("cannot read telemetry config file {path}: {source}")]
    Read {
        /// The file that was asked for.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The configuration file is not a regular file, or is too large to be one.
    #[error("telemetry config file {path} (from {from}) was not read: {reason}")]
    NotReadable {
        /// The path that was given.
        path: PathBuf,
        /// Where the path came from: `TASKER_CONFIG`, the `TASKER_ENV` overlay, a call.
        from: &'static str,
        /// Why, e.g. `not a regular file (a FIFO)` or `larger than 4 MiB (… bytes)`.
        reason: String,
    },
    /// The configuration file is not valid TOML.
    #[error("telemetry config file {path} is not valid TOML: {message}")]
    Parse {
        /// The file that failed to parse.
        path: PathBuf,
        /// The parser's message (with line and column).
        message: String,
    },
    /// A key that this crate does not know.
    #[error("unknown telemetry config key `{key}` in {origin}; {}", did_you_mean(.suggestion))]
    UnknownKey {
        /// The full dotted key, e.g. `telemetry.otlp.endpiont` (an override's as it was given).
        key: String,
        /// Where it was found.
        origin: Origin,
        /// The known key closest to it, spelled as the key was (`telemetry.otlp.endpoint`,
        /// `otlp_endpoint`), when one is close enough to be a likely misspelling.
        suggestion: Option<String>,
    },
    /// A value that is not allowed for its key.
    #[error("invalid value {value} for `{key}` (from {origin}): expected {allowed}")]
    InvalidValue {
        /// The full dotted key, e.g. `telemetry.otlp.protocol`.
        key: &'static str,
        /// Where the value came from.
        origin: Origin,
        /// The offending value, quoted (or `<hidden>` for secrets such as OTLP headers).
        value: String,
        /// What the key accepts.
        allowed: String,
    },
    /// `init` was called while telemetry is already initialised.
    #[error("{call} was already called in this process: call it once at start-up (after shutdown, telemetry cannot be started again)")]
    AlreadyInitialized {
        /// The call as the user spells it (`tasker_telemetry::init()`, `tracing.init()`).
        call: &'static str,
    },
    /// `init` was called after `shutdown`.
    #[error("telemetry was shut down in this process; {call} cannot start it again (shut down only when the process ends)")]
    ShutDown {
        /// The call as the user spells it.
        call: &'static str,
    },
    /// A runtime change ([`crate::runtime`]) before telemetry was started.
    #[error("{call}: telemetry is not initialised in this process yet; call init (or init_logging) first")]
    NotInitialized {
        /// The call as the user spells it.
        call: &'static str,
    },
    /// A reload was asked for, but the configuration did not come from a file.
    #[error("{call}: the configuration in force was not read from a file (TASKER_CONFIG or a path given to load), so there is nothing to reload")]
    NoConfigFile {
        /// The call as the user spells it.
        call: &'static str,
    },
    /// A key that cannot change while the process runs.
    #[error("`{key}` cannot change at run time (restart to apply it); what can: {allowed}")]
    NotChangeableAtRuntime {
        /// The key as it was given.
        key: String,
        /// The keys that can change at run time.
        allowed: String,
    },
    /// Another library installed a global `tracing` subscriber first.
    #[error("another global tracing subscriber is already installed in this process; remove it (tasker-telemetry installs its own) or do not call init()")]
    SubscriberConflict,
    /// An OTLP exporter could not be built from the configuration.
    #[error("cannot build the OTLP {signal} exporter for endpoint {endpoint}: {reason}")]
    Exporter {
        /// `traces`, `metrics` or `logs`.
        signal: &'static str,
        /// The configured endpoint, fit to print ([`crate::redaction::display_url`]).
        endpoint: String,
        /// The underlying error.
        reason: String,
    },
    /// The OTLP-JSON file (`telemetry.otlp.file`) cannot be opened for appending.
    #[error("cannot open the OTLP-JSON file {path} (telemetry.otlp.file / TASKER_OTLP_FILE) for appending: {source}")]
    File {
        /// The configured file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The Prometheus scrape and health-probe server cannot listen where it is configured.
    #[error("cannot serve Prometheus metrics and health probes on {address} (telemetry.prometheus.host / telemetry.prometheus.port, OTEL_EXPORTER_PROMETHEUS_HOST / OTEL_EXPORTER_PROMETHEUS_PORT): {reason}")]
    Listen {
        /// `host:port` as configured.
        address: String,
        /// Why, e.g. the port is already in use.
        reason: String,
    },
}

fn did_you_mean(suggestion: &Option<String>) -> String {
    match suggestion {
        Some(s) => format!(
            "did you mean `{s}`? (known keys are listed in the README's configuration reference)"
        ),
        None => "known keys are listed in the README's configuration reference".to_owned(),
    }
}

/// Errors from operations on a running telemetry pipeline (flush, shutdown, foreign input).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TelemetryError {
    /// A flush or shutdown did not finish in time or an exporter reported an error.
    #[error("telemetry {operation} incomplete: {details}")]
    Export {
        /// `flush` or `shutdown`.
        operation: &'static str,
        /// What was not delivered and why.
        details: String,
    },
    /// A timeout or duration given by a caller is negative, infinite or NaN.
    #[error("invalid {what} {value}: expected a non-negative number of {unit}")]
    InvalidDuration {
        /// What it was (`timeout`, `duration_ms`).
        what: &'static str,
        /// The value given.
        value: f64,
        /// Its unit (`seconds`, `milliseconds`).
        unit: &'static str,
    },
    /// What was asked for is not available in this configuration or at this moment.
    #[error("{what} is not available: {reason}")]
    Unavailable {
        /// What was asked for (e.g. `prometheus_text()`).
        what: &'static str,
        /// Why, and what to set to get it.
        reason: String,
    },
    /// A value given by a caller (usually through a binding) is not acceptable.
    #[error("invalid {what}: {message}")]
    InvalidInput {
        /// What was invalid (e.g. `correlation_id`, `level`).
        what: &'static str,
        /// Why, with the offending value.
        message: String,
    },
}
