//! Redaction of secret-looking fields before any output (console, JSON, OTLP spans, span events,
//! OTLP logs, metric labels).
//!
//! A field is secret when its key contains one of the patterns, compared case-insensitively;
//! dotted keys from flattened maps (`user.credentials.password`) match on any part, and so do
//! the keys of maps inside lists or nested deeper than the flattening limit (which travel as
//! JSON strings). Only field *values* are replaced; messages, span names and exception
//! messages are not scrubbed.

use std::sync::{Arc, OnceLock};

use arc_swap::ArcSwap;

/// The default patterns (`telemetry.logging.redact_keys`).
pub const DEFAULT_REDACT_KEYS: &[&str] = &[
    "password",
    "passwd",
    "secret",
    "token",
    "api_key",
    "apikey",
    "authorization",
    "cookie",
    "credit_card",
    "ssn",
    "private_key",
];

/// What a redacted value becomes.
pub const REDACTED: &str = "[REDACTED]";

/// A compiled list of key patterns.
///
/// ```
/// use tasker_telemetry::Redactor;
///
/// let redactor = Redactor::default();
/// assert!(redactor.is_secret("user.Password"));
/// assert!(redactor.is_secret("HTTP_AUTHORIZATION"));
/// assert!(!redactor.is_secret("order_id"));
/// ```
#[derive(Debug, Clone)]
pub struct Redactor {
    patterns: Vec<Vec<u8>>,
}

impl Default for Redactor {
    fn default() -> Self {
        Self::new(DEFAULT_REDACT_KEYS.iter().copied())
    }
}

impl Redactor {
    /// Builds a redactor from patterns (matched case-insensitively anywhere in a key).
    pub fn new<I, S>(patterns: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Self {
            patterns: patterns
                .into_iter()
                .map(|p| p.as_ref().trim().to_ascii_lowercase().into_bytes())
                .filter(|p| !p.is_empty())
                .collect(),
        }
    }

    /// Whether values under `key` must be hidden.
    pub fn is_secret(&self, key: &str) -> bool {
        let key = key.as_bytes();
        self.patterns
            .iter()
            .any(|p| contains_ignore_ascii_case(key, p))
    }
}

fn current_cell() -> &'static ArcSwap<Redactor> {
    static CURRENT: OnceLock<ArcSwap<Redactor>> = OnceLock::new();
    CURRENT.get_or_init(|| ArcSwap::from_pointee(Redactor::default()))
}

/// Makes `redactor` the one used where values are converted (JSON strings of foreign lists and
/// deep maps); set with the configuration.
pub(crate) fn set_current(redactor: Redactor) {
    current_cell().store(Arc::new(redactor));
}

/// The redactor of the current configuration.
pub fn current() -> Arc<Redactor> {
    current_cell().load_full()
}

fn contains_ignore_ascii_case(haystack: &[u8], needle_lower: &[u8]) -> bool {
    if needle_lower.len() > haystack.len() {
        return false;
    }
    haystack.windows(needle_lower.len()).any(|w| {
        w.iter()
            .zip(needle_lower)
            .all(|(a, b)| a.to_ascii_lowercase() == *b)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_case_insensitively_anywhere_in_a_dotted_key() {
        let r = Redactor::default();
        for key in [
            "password",
            "db.PASSWORD",
            "x_api_key",
            "Cookie",
            "user.credit_card.number",
            "ssn",
        ] {
            assert!(r.is_secret(key), "{key} should be secret");
        }
        for key in ["order_id", "amount", "namespace", "step_uuid", ""] {
            assert!(!r.is_secret(key), "{key} should not be secret");
        }
    }

    #[test]
    fn custom_patterns_replace_the_defaults() {
        let r = Redactor::new(["card"]);
        assert!(r.is_secret("card_number"));
        assert!(!r.is_secret("password"));
    }
}
