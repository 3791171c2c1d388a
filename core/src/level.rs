//! Level names, one table for every language: what `TASKER_LOG_LEVEL`, `TASKER_EXPORT_LEVEL`,
//! configuration files, `init` overrides and the Ruby and Python level arguments accept.

use tracing::Level;

use crate::error::TelemetryError;

/// Every accepted level name and its index (0 = TRACE … 4 = ERROR), case-insensitive. `warning`
/// is Python's spelling of `warn`; `critical` (Python) and `fatal` (Ruby) map to ERROR, the
/// highest level `tracing` has. The bindings read this table at load time.
pub const LEVEL_NAMES: &[(&str, u8)] = &[
    ("trace", 0),
    ("debug", 1),
    ("info", 2),
    ("warn", 3),
    ("warning", 3),
    ("error", 4),
    ("critical", 4),
    ("fatal", 4),
];

/// The accepted names, for messages.
pub const LEVEL_NAMES_TEXT: &str = "trace, debug, info, warn/warning, error, critical/fatal";

/// The index of a level name from [`LEVEL_NAMES`] (any case, surrounding blanks ignored).
pub fn index_of(name: &str) -> Option<u8> {
    let name = name.trim();
    LEVEL_NAMES
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, i)| *i)
}

/// Parses a level name from [`LEVEL_NAMES`]. Case-insensitive.
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
    match index_of(name) {
        Some(i) => level_from_index(i),
        None => Err(TelemetryError::InvalidInput {
            what: "level",
            message: format!("{name:?} is not a level; expected one of {LEVEL_NAMES_TEXT}"),
        }),
    }
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

/// The `tracing` spelling of a level word from [`LEVEL_NAMES`] or `off`.
fn directive_level(word: &str) -> Option<&'static str> {
    if word.trim().eq_ignore_ascii_case("off") {
        return Some("off");
    }
    index_of(word).map(|i| ["trace", "debug", "info", "warn", "error"][usize::from(i)])
}

/// A console or export filter (`TASKER_LOG_LEVEL`, `TASKER_EXPORT_LEVEL`, the `logging.level`
/// keys) in the `tracing` directive syntax, with every level spelled as [`LEVEL_NAMES`] allows
/// (`WARNING`, `critical`, `Fatal`, ...). Each comma-separated directive is a level or
/// `target=level` (span filters such as `target[span]=level` pass through). A bare word that is
/// not a level is an error, never a target filter (which would silently turn the output off).
/// The error text says what is allowed.
///
/// ```
/// use tasker_telemetry::level::normalize_filter;
///
/// assert_eq!(normalize_filter("WARNING").unwrap(), "warn");
/// assert_eq!(normalize_filter("info, my_crate=Critical").unwrap(), "info,my_crate=error");
/// assert!(normalize_filter("verbose").unwrap_err().contains("verbose"));
/// ```
pub fn normalize_filter(filter: &str) -> Result<String, String> {
    normalize(filter, false)
}

/// [`normalize_filter`] for `RUST_LOG`, which other tools set too: its own syntax stays valid (a
/// bare word that is not a level is a target, as `RUST_LOG` means it), level names are spelled
/// as [`LEVEL_NAMES`] allows.
///
/// ```
/// use tasker_telemetry::level::normalize_rust_log;
/// assert_eq!(normalize_rust_log("my_crate,tokio::net=WARNING").unwrap(), "my_crate,tokio::net=warn");
/// ```
pub fn normalize_rust_log(filter: &str) -> Result<String, String> {
    normalize(filter, true)
}

fn normalize(filter: &str, bare_targets: bool) -> Result<String, String> {
    let mut out = Vec::new();
    for directive in filter.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        let (target, word) = match directive.rfind('=') {
            // `target[span{field=value}]` has no level after its last '='.
            Some(i) if !directive[i..].contains(']') && !directive[i..].contains('}') => {
                (Some(&directive[..i]), &directive[i + 1..])
            }
            _ if directive.contains('[') => {
                out.push(directive.to_owned());
                continue;
            }
            _ => (None, directive),
        };
        let Some(level) = directive_level(word) else {
            if bare_targets && target.is_none() {
                out.push(directive.to_owned());
                continue;
            }
            return Err(match target {
                Some(t) => format!(
                    "a level after `{}=`, one of {LEVEL_NAMES_TEXT}, off (`{word}` is not one)",
                    t.trim()
                ),
                None => format!(
                    "a level ({LEVEL_NAMES_TEXT}, off) or `target=level` directives separated by commas (`{word}` is neither)"
                ),
            });
        };
        match target {
            Some(t) if t.trim().is_empty() => {
                return Err(format!("a target before `={word}`"));
            }
            Some(t) => out.push(format!("{}={level}", t.trim())),
            None => out.push(level.to_owned()),
        }
    }
    if out.is_empty() {
        return Err(format!("a level, one of {LEVEL_NAMES_TEXT}, off"));
    }
    Ok(out.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_of_the_table_is_accepted_in_any_case() {
        for (name, index) in LEVEL_NAMES {
            assert_eq!(index_of(&name.to_uppercase()), Some(*index));
            assert_eq!(
                normalize_filter(name).unwrap(),
                ["trace", "debug", "info", "warn", "error"][usize::from(*index)]
            );
        }
    }

    #[test]
    fn bare_words_that_are_not_levels_are_errors() {
        for bad in ["verbose", "loud", "my_crate", "info,chatty"] {
            assert!(normalize_filter(bad).is_err(), "{bad}");
        }
        assert!(normalize_filter("x=loud").unwrap_err().contains("loud"));
        assert!(normalize_filter("").is_err());
    }

    #[test]
    fn rust_log_keeps_its_bare_targets() {
        assert_eq!(normalize_rust_log("my_crate").unwrap(), "my_crate");
        assert_eq!(normalize_rust_log("Critical,a::b").unwrap(), "error,a::b");
        assert!(normalize_rust_log("x=loud").is_err());
    }

    #[test]
    fn span_filters_pass_through() {
        assert_eq!(
            normalize_filter("info,a[span{f=1}]=WARNING").unwrap(),
            "info,a[span{f=1}]=warn"
        );
        assert_eq!(normalize_filter("a[span]").unwrap(), "a[span]");
    }
}
