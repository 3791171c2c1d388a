//! Level names as foreign callers spell them.

use tracing::Level;

use crate::error::TelemetryError;

/// Parses a level name: `trace`, `debug`, `info`, `warn`/`warning`, `error`, and
/// `fatal`/`critical` (which map to `ERROR`, the highest `tracing` level). Case-insensitive.
///
/// ```
/// use tasker_telemetry::level::parse_level;
/// use tracing::Level;
///
/// assert_eq!(parse_level("WARNING").unwrap(), Level::WARN);
/// assert_eq!(parse_level("fatal").unwrap(), Level::ERROR);
/// assert!(parse_level("loud").unwrap_err().to_string().contains("loud"));
/// ```
pub fn parse_level(name: &str) -> Result<Level, TelemetryError> {
    let level = match name.trim().to_ascii_lowercase().as_str() {
        "trace" => Level::TRACE,
        "debug" => Level::DEBUG,
        "info" => Level::INFO,
        "warn" | "warning" => Level::WARN,
        "error" | "fatal" | "critical" | "unknown" => Level::ERROR,
        _ => {
            return Err(TelemetryError::InvalidInput {
                what: "level",
                message: format!(
                    "{name:?} is not a level; expected one of trace, debug, info, warn, warning, error, fatal, critical"
                ),
            })
        }
    };
    Ok(level)
}

/// The level's index, 0 = TRACE … 4 = ERROR (bindings compare integers on their side).
pub fn level_index(level: Level) -> u8 {
    match level {
        Level::TRACE => 0,
        Level::DEBUG => 1,
        Level::INFO => 2,
        Level::WARN => 3,
        _ => 4,
    }
}

/// The level of an index from [`level_index`] (how bindings pass levels across the FFI).
///
/// ```
/// use tasker_telemetry::level::level_from_index;
/// assert_eq!(level_from_index(3).unwrap(), tracing::Level::WARN);
/// assert!(level_from_index(9).unwrap_err().to_string().contains("0 (trace) to 4 (error)"));
/// ```
pub fn level_from_index(index: u8) -> Result<Level, TelemetryError> {
    Ok(match index {
        0 => Level::TRACE,
        1 => Level::DEBUG,
        2 => Level::INFO,
        3 => Level::WARN,
        4 => Level::ERROR,
        _ => {
            return Err(TelemetryError::InvalidInput {
                what: "level",
                message: format!("index {index} is out of range: expected 0 (trace) to 4 (error)"),
            })
        }
    })
}
