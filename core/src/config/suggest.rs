//! "Did you mean": the known key closest to an unknown one, by edit distance.

use super::settings::SETTINGS;

/// Levenshtein distance between two strings, by characters, case-insensitive.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().flat_map(char::to_lowercase).collect();
    let b: Vec<char> = b.chars().flat_map(char::to_lowercase).collect();
    distance(&a, &b)
}

/// Whether a top-level table name of a configuration file is a misspelling of `telemetry`
/// rather than one of the application's own tables: at most two edits away, case counted
/// (`[telemtry]`, `[Telemetry]`; not `[telemetrics]`, `[telemetry_v2]` or `[app_telemetry]`).
pub(crate) fn is_telemetry_typo(name: &str) -> bool {
    let a: Vec<char> = name.chars().collect();
    let b: Vec<char> = "telemetry".chars().collect();
    name != "telemetry" && distance(&a, &b) <= 2
}

fn distance(a: &[char], b: &[char]) -> usize {
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = diagonal + usize::from(ca != cb);
            diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

/// The candidate closest to `given`, when it is close enough to be a misspelling of it: at
/// most a third of its length away (at least 1, at most 4 edits); the first on a tie.
pub(crate) fn closest<'a>(
    given: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let limit = (given.chars().count() / 3).clamp(1, 4);
    candidates
        .into_iter()
        .map(|c| (edit_distance(given, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// For an unknown dotted key in a file (`telemetry.otlp.endpiont`): the closest known key.
pub(crate) fn for_file_key(key: &str) -> Option<String> {
    closest(key, SETTINGS.iter().map(|s| s.key)).map(str::to_owned)
}

/// For an unknown override (`otlp_endpont`, `otlp.endpont`, `telemetry.otlp.endpont`): the
/// closest known key, spelled the way the override was (keyword spelling with `_` after the
/// section, or dotted, with or without `telemetry.`).
pub(crate) fn for_override(key: &str) -> Option<String> {
    let prefixed = key.starts_with("telemetry.");
    let short = key.trim_start_matches("telemetry.");
    let keyword = !short.contains('.');
    let spelled: Vec<String> = SETTINGS
        .iter()
        .map(|s| {
            let dotted = s.key.trim_start_matches("telemetry.");
            let form = if keyword {
                dotted.replace('.', "_")
            } else {
                dotted.to_owned()
            };
            if prefixed {
                format!("telemetry.{form}")
            } else {
                form
            }
        })
        .collect();
    closest(key, spelled.iter().map(String::as_str)).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_signal_overrides_have_a_keyword_spelling() {
        let setting = super::super::settings::find_setting("otlp_traces_endpoint");
        assert_eq!(
            setting.map(|s| s.key),
            Some("telemetry.otlp.traces.endpoint")
        );
        let timeout = super::super::settings::find_setting("otlp_logs_timeout_ms");
        assert_eq!(
            timeout.map(|s| s.key),
            Some("telemetry.otlp.logs.timeout_ms")
        );
        assert_eq!(
            for_override("otlp_traces_endpont").as_deref(),
            Some("otlp_traces_endpoint")
        );
    }

    #[test]
    fn only_near_misses_of_telemetry_are_typos() {
        for typo in ["telemtry", "Telemetry", "telemetyr", "telemetr"] {
            assert!(is_telemetry_typo(typo), "{typo}");
        }
        for own in [
            "telemetry",
            "telemetrics",
            "telemetry_v2",
            "app_telemetry",
            "database",
        ] {
            assert!(!is_telemetry_typo(own), "{own}");
        }
    }

    #[test]
    fn distances() {
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("Endpoint", "endpoint"), 0);
        assert_eq!(edit_distance("endpiont", "endpoint"), 2);
    }

    #[test]
    fn suggestions_keep_the_spelling_of_the_key() {
        assert_eq!(
            for_override("otlp_endpont").as_deref(),
            Some("otlp_endpoint")
        );
        assert_eq!(
            for_override("otlp.endpont").as_deref(),
            Some("otlp.endpoint")
        );
        assert_eq!(
            for_override("telemetry.servce_name").as_deref(),
            Some("telemetry.service_name")
        );
        assert_eq!(
            for_file_key("telemetry.otlp.endpiont").as_deref(),
            Some("telemetry.otlp.endpoint")
        );
        assert_eq!(for_override("colour"), None);
        assert_eq!(for_file_key("telemetry.database.url"), None);
    }
}
