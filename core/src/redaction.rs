//! Redaction of secret-looking fields before any output (console, JSON, OTLP spans, span events,
//! OTLP logs, metric labels).
//!
//! Two mechanisms:
//!
//! - **Keys.** A field is secret when its key matches one of the patterns
//!   (`telemetry.logging.redact_keys`, [`DEFAULT_REDACT_KEYS`]), compared with case and the
//!   separators `-`, `_`, `.` ignored (`api_key` matches `X-Api-Key` and `apiKey`); patterns of
//!   four characters or fewer match whole words only (`ssn` matches `user_ssn`, not `lessons`).
//!   Dotted keys from flattened maps (`user.credentials.password`) match on any part, and so do
//!   the keys of maps inside lists or nested deeper than the flattening limit (which travel as
//!   JSON strings) and the values of `[key, value]` pairs in lists (`[["password", "x"]]`).
//! - **Text** ([`Redactor::scrub_text`], on unless `telemetry.logging.scrub_text = false`).
//!   Messages, string field values, span event names and exception messages (the
//!   `exception.message` attribute) are scrubbed where they leave the process (console, OTLP
//!   logs, exported spans): the value of `key=value` / `key: value` / `"key": "value"` with a
//!   secret key (so `?token=…` query parameters too), and the password of URL user-info.
//!   Span names and metric label values are not scrubbed.
//!
//! Endpoint URLs are printed through [`display_url`], which always hides their password and
//! secret query values.

use std::borrow::Cow;
use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use arc_swap::ArcSwap;

/// The default patterns (`telemetry.logging.redact_keys`), after the list of Pydantic
/// Logfire's scrubber, plus `token`, `bearer`, `passphrase` and `access_key`.
///
/// Patterns of four characters or fewer (`pwd`, `auth`, `jwt`, `ssn`, `csrf`, `xsrf`) match a
/// whole word of a key only, so that `ssn` does not match `lessons` nor `auth` `author`.
pub const DEFAULT_REDACT_KEYS: &[&str] = &[
    "password",
    "passwd",
    "pwd",
    "passphrase",
    "secret",
    "token",
    "api_key",
    "access_key",
    "private_key",
    "auth",
    "authorization",
    "bearer",
    "credential",
    "session",
    "cookie",
    "csrf",
    "xsrf",
    "jwt",
    "ssn",
    "social_security",
    "credit_card",
];

/// What a redacted value becomes.
pub const REDACTED: &str = "[REDACTED]";

/// Patterns this long or shorter (normalised) match whole words only.
const WORD_PATTERN_MAX: usize = 4;

/// A compiled list of key patterns.
///
/// Keys and patterns are compared *normalised*: ASCII letters lower-cased and the separators
/// `-`, `_`, `.` and spaces removed, so `api_key` matches `x-api-key`, `X-Api-Key`, `API.KEY`
/// and `apiKey`. A pattern longer than four characters matches anywhere in the normalised key
/// (`credential` in `aws_credentials`); a shorter one matches only a whole word of the key,
/// words being separated by `-`, `_`, `.`, spaces, other punctuation and camelCase humps
/// (`ssn` in `user_ssn` or `userSSN`, not in `lessons`; `auth` in `x-auth`, not in `author`).
///
/// ```
/// use tasker_telemetry::Redactor;
///
/// let redactor = Redactor::default();
/// assert!(redactor.is_secret("user.Password"));
/// assert!(redactor.is_secret("HTTP_AUTHORIZATION"));
/// assert!(redactor.is_secret("X-Api-Key"));
/// assert!(redactor.is_secret("user_ssn"));
/// assert!(!redactor.is_secret("lessons"));
/// assert!(!redactor.is_secret("order_id"));
/// ```
#[derive(Clone)]
pub struct Redactor {
    /// Patterns matched anywhere, each with the [`byte_mask`] of its bytes.
    patterns: Vec<(u64, Vec<u8>)>,
    /// Short patterns matched as whole words.
    words: Vec<Vec<u8>>,
    /// Whether [`Redactor::scrub_text`] scrubs (`telemetry.logging.scrub_text`).
    scrub: bool,
    /// Identifies the set of patterns in the per-thread cache of answers ([`KEY_CACHE`]):
    /// redactors built from the same patterns (the console's, the exporters') share it.
    id: u64,
}

/// Keys longer than this are matched every time.
const CACHED_KEY_MAX: usize = 39;
const CACHE_SLOTS: usize = 256;

/// One answer of [`KEY_CACHE`].
#[derive(Clone, Copy)]
struct CachedKey {
    /// The [`Redactor::id`] it was answered for; 0: empty.
    owner: u64,
    len: u8,
    secret: bool,
    key: [u8; CACHED_KEY_MAX],
}

const EMPTY_SLOT: CachedKey = CachedKey {
    owner: 0,
    len: 0,
    secret: false,
    key: [0; CACHED_KEY_MAX],
};

thread_local! {
    /// A per-thread, direct-mapped cache of [`Redactor::is_secret`] answers: the keys of spans
    /// and events are few and repeat (field names, `code.*`), and matching one against every
    /// pattern costs a few hundred instructions where a hit costs a hash and a compare. An
    /// entry holds the key's bytes (not its address: an owned key freed and another allocated
    /// at the same place must not inherit its answer) and the id of the patterns it answers for.
    static KEY_CACHE: RefCell<Vec<CachedKey>> = const { RefCell::new(Vec::new()) };
}

/// The id of a set of patterns: the same set always gets the same id (compared exactly, not
/// by a hash), a new set a new one (never 0). Redactors are built at configuration time only.
fn patterns_id(patterns: &[(u64, Vec<u8>)], words: &[Vec<u8>]) -> u64 {
    type Known = Vec<(Vec<Vec<u8>>, Vec<Vec<u8>>, u64)>;
    static KNOWN: std::sync::Mutex<Known> = std::sync::Mutex::new(Vec::new());
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let patterns: Vec<Vec<u8>> = patterns.iter().map(|(_, p)| p.clone()).collect();
    let mut known = KNOWN.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, _, id)) = known
        .iter()
        .find(|(p, w, _)| *p == patterns && w.as_slice() == words)
    {
        return *id;
    }
    let id = NEXT.fetch_add(1, Ordering::Relaxed);
    known.push((patterns, words.to_vec(), id));
    id
}

/// FNV-1a over the key's bytes, folded to a slot.
fn slot_of(key: &[u8]) -> usize {
    let mut h: u32 = 0x811c_9dc5;
    for &b in key {
        h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
    }
    (h ^ (h >> 16)) as usize % CACHE_SLOTS
}

/// One bit per byte value (lower-cased, modulo 64) present in `bytes`: a key can contain a
/// pattern only if its mask covers the pattern's, so most (key, pattern) pairs are rejected
/// with one AND after a single branch-free pass over the key.
fn byte_mask(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(0, |m, b| m | 1 << (b.to_ascii_lowercase() & 63))
}

fn is_separator(b: u8) -> bool {
    matches!(b, b'-' | b'_' | b'.' | b' ')
}

/// `key` lower-cased (ASCII) without separators.
fn normalise(key: &[u8]) -> Vec<u8> {
    key.iter()
        .filter(|b| !is_separator(**b))
        .map(u8::to_ascii_lowercase)
        .collect()
}

/// Whether `key` has a word equal (ASCII case-insensitively) to one of `words`: one pass over
/// the key, whatever the number of words.
fn has_word(key: &[u8], words: &[Vec<u8>]) -> bool {
    let mut start = 0;
    for i in 0..=key.len() {
        let end_here = i == key.len()
            || !key[i].is_ascii_alphanumeric()
            // a camelCase hump: `userSsn` → `user`, `Ssn`
            || (i > start && key[i].is_ascii_uppercase() && key[i - 1].is_ascii_lowercase());
        if end_here {
            let word = &key[start.min(i)..i];
            if !word.is_empty() && words.iter().any(|w| word.eq_ignore_ascii_case(w)) {
                return true;
            }
            start = if i < key.len() && key[i].is_ascii_alphanumeric() {
                i
            } else {
                i + 1
            };
        }
    }
    false
}

/// Whether the normalised form of `key` contains `pattern` (already normalised), without
/// building that form.
fn contains_normalised(key: &[u8], pattern: &[u8]) -> bool {
    'start: for from in 0..key.len() {
        if is_separator(key[from]) {
            continue;
        }
        let mut k = from;
        for &p in pattern {
            while k < key.len() && is_separator(key[k]) {
                k += 1;
            }
            if k == key.len() || key[k].to_ascii_lowercase() != p {
                continue 'start;
            }
            k += 1;
        }
        return true;
    }
    false
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let patterns: Vec<_> = self
            .patterns
            .iter()
            .map(|(_, p)| p)
            .chain(&self.words)
            .map(|p| String::from_utf8_lossy(p))
            .collect();
        f.debug_struct("Redactor")
            .field("patterns", &patterns)
            .field("scrub_text", &self.scrub)
            .finish()
    }
}

impl Default for Redactor {
    fn default() -> Self {
        Self::new(DEFAULT_REDACT_KEYS.iter().copied())
    }
}

impl Redactor {
    /// Builds a redactor from patterns (see the type's documentation for how they match),
    /// with text scrubbing on.
    pub fn new<I, S>(patterns: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut out = Self {
            patterns: Vec::new(),
            words: Vec::new(),
            scrub: true,
            id: 0,
        };
        for p in patterns {
            let p = normalise(p.as_ref().trim().as_bytes());
            if p.is_empty() {
            } else if p.len() <= WORD_PATTERN_MAX {
                out.words.push(p);
            } else {
                out.patterns.push((byte_mask(&p), p));
            }
        }
        out.id = patterns_id(&out.patterns, &out.words);
        out
    }

    /// Turns scrubbing of text ([`Redactor::scrub_text`]) on or off; keys are redacted either way.
    pub fn with_text_scrubbing(mut self, on: bool) -> Self {
        self.scrub = on;
        self
    }

    /// Whether values under `key` must be hidden.
    pub fn is_secret(&self, key: &str) -> bool {
        let bytes = key.as_bytes();
        if bytes.len() > CACHED_KEY_MAX {
            return self.matches(bytes);
        }
        KEY_CACHE
            .try_with(|cache| {
                let Ok(mut slots) = cache.try_borrow_mut() else {
                    return self.matches(bytes);
                };
                if slots.is_empty() {
                    slots.resize(CACHE_SLOTS, EMPTY_SLOT);
                }
                let slot = &mut slots[slot_of(bytes)];
                if slot.owner == self.id
                    && usize::from(slot.len) == bytes.len()
                    && &slot.key[..bytes.len()] == bytes
                {
                    return slot.secret;
                }
                let secret = self.matches(bytes);
                slot.owner = self.id;
                slot.len = bytes.len() as u8;
                slot.key[..bytes.len()].copy_from_slice(bytes);
                slot.secret = secret;
                secret
            })
            .unwrap_or_else(|_| self.matches(bytes))
    }

    /// [`is_secret`](Self::is_secret) without the cache.
    fn matches(&self, key: &[u8]) -> bool {
        if !self.words.is_empty() && has_word(key, &self.words) {
            return true;
        }
        let mask = byte_mask(key);
        self.patterns
            .iter()
            .any(|(m, p)| m & mask == *m && contains_normalised(key, p))
    }

    /// Redacts the value of each `[key, value]` pair in `items` (a list of two-item lists whose
    /// first item is a string, as `dict.items()` or `Hash#to_a` give) when `key` is secret.
    pub fn redact_pairs(&self, items: &mut [serde_json::Value]) {
        for item in items {
            if let serde_json::Value::Array(pair) = item {
                if let [serde_json::Value::String(k), v] = pair.as_mut_slice() {
                    if self.is_secret(k) {
                        *v = serde_json::Value::from(REDACTED);
                    }
                }
            }
        }
    }

    /// Hides secrets inside free text (messages, string values, exception messages): the
    /// value of every `key=value`, `key: value` or `"key": "value"` whose key is secret (a
    /// value runs to the closing quote when quoted, else to whitespace or one of `&,;)]}>`;
    /// `Bearer`/`Basic` schemes keep their name and lose their credential), and the password
    /// of URL user-info (`https://user:[REDACTED]@host`). Secret query parameters
    /// (`?token=…&api_key=…`) are `key=value` pairs. Borrowed when nothing was found, and
    /// when scrubbing is off (`telemetry.logging.scrub_text = false`).
    ///
    /// ```
    /// let r = tasker_telemetry::Redactor::default();
    /// assert_eq!(r.scrub_text("login failed password=hunter2"), "login failed password=[REDACTED]");
    /// assert_eq!(r.scrub_text("GET https://bob:pw@h/x?a=1&api_key=k1"), "GET https://bob:[REDACTED]@h/x?a=1&api_key=[REDACTED]");
    /// assert!(matches!(r.scrub_text("order 42 shipped"), std::borrow::Cow::Borrowed(_)));
    /// ```
    pub fn scrub_text<'a>(&self, text: &'a str) -> Cow<'a, str> {
        if !self.scrub {
            return Cow::Borrowed(text);
        }
        self.scrub_always(text)
    }

    fn scrub_always<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let bytes = text.as_bytes();
        if !bytes.iter().any(|b| matches!(b, b'=' | b':')) {
            return Cow::Borrowed(text);
        }
        let mut ranges: Vec<(usize, usize)> = Vec::new();
        for (i, &b) in bytes.iter().enumerate() {
            // A separator inside a value already hidden starts nothing (and `token=token=…` stays
            // linear).
            if ranges.last().is_some_and(|&(_, end)| i < end) {
                continue;
            }
            match b {
                b'=' | b':' => {
                    if b == b':' && bytes[i + 1..].starts_with(b"//") {
                        if let Some(r) = userinfo_password(bytes, i + 3) {
                            ranges.push(r);
                        }
                        continue;
                    }
                    if let Some(r) = self.pair_value(bytes, i) {
                        ranges.push(r);
                    }
                }
                _ => {}
            }
        }
        if ranges.is_empty() {
            return Cow::Borrowed(text);
        }
        ranges.sort_unstable();
        let mut out = String::with_capacity(text.len() + 16);
        let mut done = 0;
        for (start, end) in ranges {
            if start < done {
                continue;
            }
            out.push_str(&text[done..start]);
            out.push_str(REDACTED);
            done = end;
        }
        out.push_str(&text[done..]);
        Cow::Owned(out)
    }

    /// The range of the value after the separator at `sep` when the key before it is secret.
    fn pair_value(&self, bytes: &[u8], sep: usize) -> Option<(usize, usize)> {
        // the key: back over spaces, an optional closing quote, then key characters
        let mut k_end = sep;
        while k_end > 0 && bytes[k_end - 1] == b' ' && sep - k_end < 4 {
            k_end -= 1;
        }
        let quote = (k_end > 0 && matches!(bytes[k_end - 1], b'"' | b'\'')).then(|| {
            k_end -= 1;
            bytes[k_end]
        });
        let mut k_start = k_end;
        while k_start > 0 && is_key_byte(bytes[k_start - 1]) && k_end - k_start < 128 {
            k_start -= 1;
        }
        if k_start == k_end || (k_start > 0 && is_key_byte(bytes[k_start - 1])) {
            return None;
        }
        if let Some(q) = quote {
            if k_start == 0 || bytes[k_start - 1] != q {
                return None;
            }
        }
        // `str` ↔ `&str` boundaries: key bytes are ASCII, so the range is on char boundaries.
        let key = std::str::from_utf8(&bytes[k_start..k_end]).ok()?;
        if !self.is_secret(key) {
            return None;
        }
        let mut v = sep + 1;
        // Ruby's `Hash#inspect`: `{"password"=>"hunter2"}`.
        if bytes[sep] == b'=' && bytes.get(v) == Some(&b'>') {
            v += 1;
        }
        while v < bytes.len() && bytes[v] == b' ' {
            v += 1;
        }
        let (start, end) = value_range(bytes, v)?;
        // `Authorization: Bearer abc`: keep the scheme, hide the credential.
        let word = &bytes[start..end];
        if ["bearer", "basic", "token", "digest"]
            .iter()
            .any(|s| word.eq_ignore_ascii_case(s.as_bytes()))
            && bytes.get(end) == Some(&b' ')
        {
            let mut c = end;
            while c < bytes.len() && bytes[c] == b' ' {
                c += 1;
            }
            return value_range(bytes, c);
        }
        Some((start, end))
    }
}

impl Redactor {
    /// Redacts OpenTelemetry attributes: values of secret keys become `[REDACTED]`, other
    /// string values are [scrubbed](Redactor::scrub_text).
    pub fn redact_attributes(&self, attrs: &mut [opentelemetry::KeyValue]) {
        for kv in attrs {
            if self.is_secret(kv.key.as_str()) {
                kv.value = opentelemetry::Value::from(REDACTED);
            } else if let opentelemetry::Value::String(s) = &kv.value {
                if let Cow::Owned(clean) = self.scrub_text(s.as_str()) {
                    kv.value = opentelemetry::Value::from(clean);
                }
            }
        }
    }

    /// Redacts a finished span before export: its attributes, its events' attributes and
    /// names, and its error status description.
    pub(crate) fn redact_span(&self, span: &mut opentelemetry_sdk::trace::SpanData) {
        self.redact_attributes(&mut span.attributes);
        for event in span.events.events.iter_mut() {
            self.redact_attributes(&mut event.attributes);
            if let Cow::Owned(clean) = self.scrub_text(&event.name) {
                event.name = clean.into();
            }
        }
        if let opentelemetry::trace::Status::Error { description } = &mut span.status {
            if let Cow::Owned(clean) = self.scrub_text(description) {
                *description = clean.into();
            }
        }
    }
}

fn is_key_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')
}

/// The value starting at `v`: inside quotes when quoted, else up to whitespace or a
/// delimiter. `None` when empty or already redacted.
fn value_range(bytes: &[u8], v: usize) -> Option<(usize, usize)> {
    let first = *bytes.get(v)?;
    if bytes[v..].starts_with(REDACTED.as_bytes()) {
        return None;
    }
    let (start, end) = if matches!(first, b'"' | b'\'') {
        // Up to the closing quote; a backslash escapes the byte after it (`"a\"b"`).
        let mut end = v + 1;
        while end < bytes.len() && bytes[end] != first {
            end += if bytes[end] == b'\\' { 2 } else { 1 };
        }
        (v + 1, end.min(bytes.len()))
    } else {
        let len = bytes[v..].iter().position(|b| {
            b.is_ascii_whitespace()
                || matches!(
                    b,
                    b'&' | b',' | b';' | b')' | b']' | b'}' | b'>' | b'"' | b'\'' | b'#'
                )
        });
        (v, len.map_or(bytes.len(), |l| v + l))
    };
    (start < end && &bytes[start..end] != REDACTED.as_bytes()).then_some((start, end))
}

/// The password of URL user-info starting at `at` (just after `://`), if any.
fn userinfo_password(bytes: &[u8], at: usize) -> Option<(usize, usize)> {
    let rest = bytes.get(at..)?;
    let len = rest
        .iter()
        .position(|b| {
            b.is_ascii_whitespace() || matches!(b, b'/' | b'?' | b'#' | b'"' | b'\'' | b'<' | b'>')
        })
        .unwrap_or(rest.len());
    let authority = &rest[..len];
    let at_sign = authority.iter().rposition(|b| *b == b'@')?;
    let colon = authority[..at_sign].iter().position(|b| *b == b':')?;
    let (start, end) = (at + colon + 1, at + at_sign);
    (start < end && !bytes[start..].starts_with(REDACTED.as_bytes())).then_some((start, end))
}

/// `url` (or any text naming one) fit to print: the password of its user-info and the values
/// of secret query parameters (by the default patterns and the current ones) replaced by
/// `[REDACTED]`, whatever `telemetry.logging.scrub_text` says. Used wherever an endpoint is
/// shown (errors, the drop warning, shutdown messages).
///
/// ```
/// use tasker_telemetry::redaction::display_url;
/// assert_eq!(
///     display_url("https://u:s3cret@collector:4318/v1?api_key=k&x=1"),
///     "https://u:[REDACTED]@collector:4318/v1?api_key=[REDACTED]&x=1"
/// );
/// assert_eq!(display_url("http://127.0.0.1:4317"), "http://127.0.0.1:4317");
/// ```
pub fn display_url(url: &str) -> String {
    static DEFAULT: OnceLock<Redactor> = OnceLock::new();
    let once = DEFAULT.get_or_init(Redactor::default).scrub_always(url);
    current().scrub_always(&once).into_owned()
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
    fn cached_answers_belong_to_their_patterns_and_to_the_exact_key() {
        let orders = Redactor::new(["order"]);
        let default = Redactor::default();
        for _ in 0..3 {
            // The same key on the same thread, answered for two sets of patterns in turn.
            assert!(orders.is_secret("order_id"));
            assert!(!default.is_secret("order_id"));
            assert!(default.is_secret("password"));
            assert!(!orders.is_secret("password"));
        }
        // More keys than slots: collisions replace entries, never answer for another key
        // (same length, different bytes included).
        let keys: Vec<String> = (0..2000).map(|i| format!("k{i:05}")).collect();
        let secret = Redactor::new(["k00042", "k01999"]);
        for _ in 0..2 {
            for k in &keys {
                assert_eq!(secret.is_secret(k), k == "k00042" || k == "k01999", "{k}");
            }
        }
        // Redactors of the same patterns share answers; other patterns never see them.
        assert_eq!(Redactor::default().id, default.id);
        assert_ne!(orders.id, default.id);
        assert_ne!(Redactor::new(["order", "x"]).id, orders.id);
        let long = format!("{}password", "x".repeat(CACHED_KEY_MAX));
        assert!(default.is_secret(&long));
        assert!(default.is_secret(&long));
    }

    #[test]
    fn matches_case_and_separator_insensitively_anywhere_in_a_dotted_key() {
        let r = Redactor::default();
        for key in [
            "password",
            "db.PASSWORD",
            "x_api_key",
            "x-api-key",
            "X-Api-Key",
            "api-key",
            "API.KEY",
            "apiKey",
            "Cookie",
            "user.credit_card.number",
            "creditCard",
            "ssn",
            "user_ssn",
            "userSSN",
            "pwd",
            "MYSQL_PWD",
            "passphrase",
            "jwt",
            "id_jwt",
            "bearer",
            "session_id",
            "aws_credentials",
            "access_key_id",
            "aws_secret_access_key",
            "private_key",
            "privateKey",
            "x-auth",
            "auth",
            "csrf_token",
            "X-XSRF-TOKEN",
            "social_security_number",
        ] {
            assert!(r.is_secret(key), "{key} should be secret");
        }
        for key in [
            "order_id",
            "amount",
            "namespace",
            "step_uuid",
            "",
            "lessons",
            "author",
            "authors",
            "classname",
            "pwdx",
            "keyboard",
        ] {
            assert!(!r.is_secret(key), "{key} should not be secret");
        }
    }

    #[test]
    fn short_patterns_match_whole_words_only() {
        let r = Redactor::new(["ssn", "card"]);
        assert!(r.is_secret("ssn_last4"));
        assert!(r.is_secret("the.SSN"));
        assert!(r.is_secret("cardNumber"));
        assert!(!r.is_secret("lessons"));
        assert!(!r.is_secret("discard"));
    }

    #[test]
    fn more_than_64_patterns_all_count() {
        let mut patterns: Vec<String> = (0..70).map(|i| format!("p{i}xyz")).collect();
        patterns.push("last_one".into());
        let r = Redactor::new(&patterns);
        assert!(r.is_secret("a_p3xyz"));
        assert!(r.is_secret("p69xyz"));
        assert!(r.is_secret("the_LAST_one"));
        assert!(!r.is_secret("p70xy"));
    }

    #[test]
    fn custom_patterns_replace_the_defaults() {
        let r = Redactor::new(["card"]);
        assert!(r.is_secret("card_number"));
        assert!(!r.is_secret("password"));
    }

    #[test]
    fn pairs_with_secret_keys_are_redacted() {
        let r = Redactor::default();
        let mut v =
            serde_json::json!([["password", "x"], ["user", "ann"], ["a", "b", "c"], [1, 2]]);
        r.redact_pairs(v.as_array_mut().unwrap());
        assert_eq!(
            v,
            serde_json::json!([
                ["password", REDACTED],
                ["user", "ann"],
                ["a", "b", "c"],
                [1, 2]
            ])
        );
    }

    #[test]
    fn scrubs_ruby_hash_inspect_and_escaped_quotes() {
        let r = Redactor::default();
        assert_eq!(
            r.scrub_text(r#"params {"password"=>"hunter2", :id=>1}"#),
            r#"params {"password"=>"[REDACTED]", :id=>1}"#
        );
        assert_eq!(
            r.scrub_text(r#"{:api_key=>"k1"}"#),
            r#"{:api_key=>"[REDACTED]"}"#
        );
        let escaped = r.scrub_text(r#"{"password":"a\"b c","x":1}"#);
        assert_eq!(escaped, r#"{"password":"[REDACTED]","x":1}"#);
    }

    #[test]
    fn a_separator_inside_a_hidden_value_starts_nothing() {
        let r = Redactor::default();
        let text = "token=".repeat(3) + "end";
        assert_eq!(r.scrub_text(&text), "token=[REDACTED]");
    }

    #[test]
    fn scrubs_secret_pairs_in_text() {
        let r = Redactor::default();
        for (text, want) in [
            (
                "login failed password=hunter2",
                "login failed password=[REDACTED]",
            ),
            (
                "password = hunter2 for bob",
                "password = [REDACTED] for bob",
            ),
            (
                "api_key: sk_live_1, user: bob",
                "api_key: [REDACTED], user: bob",
            ),
            (
                r#"{"password":"a b","n":1}"#,
                r#"{"password":"[REDACTED]","n":1}"#,
            ),
            ("token='x y' ok", "token='[REDACTED]' ok"),
            (
                "Authorization: Bearer abc.def",
                "Authorization: Bearer [REDACTED]",
            ),
            ("X-Api-Key=k1;other=2", "X-Api-Key=[REDACTED];other=2"),
            (
                "GET /v1?token=t1&page=2&api_key=k2#f",
                "GET /v1?token=[REDACTED]&page=2&api_key=[REDACTED]#f",
            ),
            (
                "db at postgres://app:pa:ss@db:5432/x",
                "db at postgres://app:[REDACTED]@db:5432/x",
            ),
            (
                "https://[REDACTED]@h and password=[REDACTED]",
                "https://[REDACTED]@h and password=[REDACTED]",
            ),
            ("é password=é€", "é password=[REDACTED]"),
            ("password=", "password="),
            ("password:", "password:"),
        ] {
            assert_eq!(r.scrub_text(text), want, "{text}");
        }
    }

    #[test]
    fn ordinary_text_is_borrowed() {
        let r = Redactor::default();
        for text in [
            "order 42 shipped",
            "error: connection refused at 12:30:01",
            "lessons=3 author=ann",
            "http://127.0.0.1:4317/v1/traces",
            "ssh://git@host/repo",
            "",
            ":=:=",
        ] {
            assert!(matches!(r.scrub_text(text), Cow::Borrowed(_)), "{text}");
        }
        let off = Redactor::default().with_text_scrubbing(false);
        assert!(matches!(off.scrub_text("password=x"), Cow::Borrowed(_)));
    }

    #[test]
    fn display_url_hides_credentials() {
        assert_eq!(
            display_url("http://user:pass@collector:4318/?api_key=k&x=1"),
            "http://user:[REDACTED]@collector:4318/?api_key=[REDACTED]&x=1"
        );
        assert_eq!(
            display_url("https://collector.example:443"),
            "https://collector.example:443"
        );
        // even with text scrubbing off and custom patterns
        set_current(Arc::new(Redactor::new(["x"]).with_text_scrubbing(false)));
        assert_eq!(
            display_url("http://u:p@h/?token=t"),
            "http://u:[REDACTED]@h/?token=[REDACTED]"
        );
        set_current(Arc::new(Redactor::default()));
    }
}
