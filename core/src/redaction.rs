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
#[derive(Clone)]
pub struct Redactor {
    /// Each pattern with the [`byte_mask`] of its bytes.
    patterns: Vec<(u64, Vec<u8>)>,
}

/// One bit per byte value (lower-cased, modulo 64) present in `bytes`: a key can contain a
/// pattern only if its mask covers the pattern's, so most (key, pattern) pairs are rejected
/// with one AND after a single branch-free pass over the key.
fn byte_mask(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(0, |m, b| m | 1 << (b.to_ascii_lowercase() & 63))
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let patterns: Vec<_> = self
            .patterns
            .iter()
            .map(|(_, p)| String::from_utf8_lossy(p))
            .collect();
        f.debug_struct("Redactor")
            .field("patterns", &patterns)
            .finish()
    }
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
                .map(|p| (byte_mask(&p), p))
                .collect(),
        }
    }

    /// Whether values under `key` must be hidden.
    pub fn is_secret(&self, key: &str) -> bool {
        let key = key.as_bytes();
        let mask = byte_mask(key);
        self.patterns.iter().any(|(m, p)| {
            m & mask == *m
                && p.len() <= key.len()
                && key.windows(p.len()).any(|w| w.eq_ignore_ascii_case(p))
        })
    }
}

fn current_cell() -> &'static ArcSwap<Redactor> {
    static CURRENT: OnceLock<ArcSwap<Redactor>> = OnceLock::new();
    CURRENT.get_or_init(|| ArcSwap::from_pointee(Redactor::default()))
}

/// Makes `redactor` the one used where values are converted (JSON strings of foreign lists and
/// deep maps); set with the configuration.
pub(crate) fn set_current(redactor: Arc<Redactor>) {
    current_cell().store(redactor);
}

/// The redactor of the current configuration.
pub fn current() -> Arc<Redactor> {
    current_cell().load_full()
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
    fn agrees_with_a_plain_substring_search() {
        let r = Redactor::default();
        let keys = [
            "PassWord",
            "x.passwd",
            "secrets",
            "tok",
            "token_id",
            "apikey",
            "API-KEY",
            "api_keys",
            "authorization",
            "my_cookie",
            "credit",
            "ssn_last4",
            "private_key",
            "é_password",
            "passwor",
            "s",
            "",
        ];
        for key in keys {
            let lower = key.to_ascii_lowercase();
            let expected = DEFAULT_REDACT_KEYS.iter().any(|p| lower.contains(p));
            assert_eq!(r.is_secret(key), expected, "{key}");
        }
    }

    #[test]
    fn more_than_64_patterns_all_count() {
        let mut patterns: Vec<String> = (0..70).map(|i| format!("p{i}x")).collect();
        patterns.push("last".into());
        let r = Redactor::new(&patterns);
        assert!(r.is_secret("a_p3x"));
        assert!(r.is_secret("p69x"));
        assert!(r.is_secret("the_LAST_one"));
        assert!(!r.is_secret("p70"));
    }

    #[test]
    fn custom_patterns_replace_the_defaults() {
        let r = Redactor::new(["card"]);
        assert!(r.is_secret("card_number"));
        assert!(!r.is_secret("password"));
    }
}
