//! Correlation context: one `correlation_id` (plus workflow identifiers) that every span and log
//! event inside a scope carries, in console/JSON logs and in exported spans alike.
//!
//! A [`Correlation`] lives in the OpenTelemetry [`Context`]: entering it attaches a context that
//! holds it, spans created inside inherit it through their parent context (so a span handed to
//! another thread or task keeps it), and futures carry it with
//! [`WithCorrelation::with_correlation`].

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::str::FromStr;
use std::sync::Arc;

use opentelemetry::{Context, ContextGuard, KeyValue};
use uuid::Uuid;

use crate::error::TelemetryError;

/// A correlation id: a UUID, v7 (time-ordered) when generated here.
///
/// ```
/// use tasker_telemetry::CorrelationId;
///
/// let id = CorrelationId::new();
/// let again: CorrelationId = id.to_string().parse().unwrap();
/// assert_eq!(id, again);
/// assert!("not-a-uuid".parse::<CorrelationId>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CorrelationId(Uuid);

impl CorrelationId {
    /// A new UUIDv7.
    pub fn new() -> Self {
        Self(Uuid::now_v7())
    }

    /// Wraps an existing UUID.
    pub fn from_uuid(uuid: Uuid) -> Self {
        Self(uuid)
    }

    /// The UUID.
    pub fn as_uuid(&self) -> &Uuid {
        &self.0
    }
}

impl Default for CorrelationId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for CorrelationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.hyphenated(), f)
    }
}

impl FromStr for CorrelationId {
    type Err = TelemetryError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_uuid("correlation_id", s).map(Self)
    }
}

pub(crate) fn parse_uuid(what: &'static str, s: &str) -> Result<Uuid, TelemetryError> {
    Uuid::parse_str(s.trim()).map_err(|e| TelemetryError::InvalidInput {
        what,
        message: format!("{s:?} is not a UUID ({e})"),
    })
}

/// An optional UUID: `None` for a missing or blank value, an error naming `what` for text that
/// is not a UUID.
pub(crate) fn parse_opt_uuid(
    what: &'static str,
    s: Option<&str>,
) -> Result<Option<Uuid>, TelemetryError> {
    s.filter(|s| !s.trim().is_empty())
        .map(|s| parse_uuid(what, s))
        .transpose()
}

/// The correlation of a unit of work: who asked for it and which task/step it belongs to.
///
/// ```
/// use tasker_telemetry::{Correlation, CorrelationId};
///
/// let correlation = Correlation::new().with_namespace("payments");
/// let id = correlation.correlation_id;
/// {
///     let _scope = correlation.enter();
///     assert_eq!(Correlation::current().unwrap().correlation_id, id);
/// }
/// assert!(Correlation::current().is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Correlation {
    /// The id every span and event carries.
    pub correlation_id: CorrelationId,
    /// The correlation id of the work that started this one, if any.
    pub parent_correlation_id: Option<CorrelationId>,
    /// The task.
    pub task_uuid: Option<Uuid>,
    /// The step.
    pub step_uuid: Option<Uuid>,
    /// The task's namespace.
    pub namespace: Option<String>,
}

/// Attribute and log keys used for correlation.
pub mod keys {
    /// `correlation_id`
    pub const CORRELATION_ID: &str = "correlation_id";
    /// `parent_correlation_id`
    pub const PARENT_CORRELATION_ID: &str = "parent_correlation_id";
    /// `task_uuid`
    pub const TASK_UUID: &str = "task_uuid";
    /// `step_uuid`
    pub const STEP_UUID: &str = "step_uuid";
    /// `namespace`
    pub const NAMESPACE: &str = "namespace";
}

/// A namespace trimmed, `None` when blank.
pub(crate) fn clean_namespace(namespace: Option<&str>) -> Option<String> {
    namespace
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

impl Default for Correlation {
    fn default() -> Self {
        Self::new()
    }
}

impl Correlation {
    /// A fresh correlation with a generated UUIDv7 id.
    pub fn new() -> Self {
        Self::with_id(CorrelationId::new())
    }

    /// A correlation with the given id.
    pub fn with_id(correlation_id: CorrelationId) -> Self {
        Self {
            correlation_id,
            parent_correlation_id: None,
            task_uuid: None,
            step_uuid: None,
            namespace: None,
        }
    }

    /// Builds a correlation from optional strings, as bindings receive them: a missing
    /// `correlation_id` is generated; an invalid UUID is an error naming the field.
    pub fn from_parts(
        correlation_id: Option<&str>,
        parent_correlation_id: Option<&str>,
        task_uuid: Option<&str>,
        step_uuid: Option<&str>,
        namespace: Option<&str>,
    ) -> Result<Self, TelemetryError> {
        let opt = parse_opt_uuid;
        Ok(Self {
            correlation_id: opt(keys::CORRELATION_ID, correlation_id)?
                .map(CorrelationId)
                .unwrap_or_default(),
            parent_correlation_id: opt(keys::PARENT_CORRELATION_ID, parent_correlation_id)?
                .map(CorrelationId),
            task_uuid: opt(keys::TASK_UUID, task_uuid)?,
            step_uuid: opt(keys::STEP_UUID, step_uuid)?,
            namespace: clean_namespace(namespace),
        })
    }

    /// Sets the parent correlation id.
    pub fn with_parent(mut self, parent: CorrelationId) -> Self {
        self.parent_correlation_id = Some(parent);
        self
    }

    /// Sets the task uuid.
    pub fn with_task(mut self, task_uuid: Uuid) -> Self {
        self.task_uuid = Some(task_uuid);
        self
    }

    /// Sets the step uuid.
    pub fn with_step(mut self, step_uuid: Uuid) -> Self {
        self.step_uuid = Some(step_uuid);
        self
    }

    /// Sets the namespace (surrounding whitespace removed, as W3C baggage would on the way to
    /// another process; an empty namespace is none).
    pub fn with_namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = clean_namespace(Some(&namespace.into()));
        self
    }

    /// `(key, value)` pairs of the fields that are set, `correlation_id` first.
    pub fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut out = vec![(keys::CORRELATION_ID, self.correlation_id.to_string())];
        if let Some(p) = &self.parent_correlation_id {
            out.push((keys::PARENT_CORRELATION_ID, p.to_string()));
        }
        if let Some(t) = &self.task_uuid {
            out.push((keys::TASK_UUID, t.to_string()));
        }
        if let Some(s) = &self.step_uuid {
            out.push((keys::STEP_UUID, s.to_string()));
        }
        if let Some(n) = &self.namespace {
            out.push((keys::NAMESPACE, n.clone()));
        }
        out
    }

    /// The fields as OpenTelemetry attributes (stamped on every span started in its scope).
    pub fn attributes(&self) -> Vec<KeyValue> {
        self.with_attributes(<[KeyValue]>::to_vec)
    }

    /// Calls `f` with the fields as OpenTelemetry attributes. The strings are shared
    /// (`Arc<str>`) and the last correlation's attributes are kept per thread, so the spans of
    /// one step format the ids once and copy no list.
    pub(crate) fn with_attributes<R>(&self, mut f: impl FnMut(&[KeyValue]) -> R) -> R {
        thread_local! {
            static LAST: RefCell<Option<(Correlation, Vec<KeyValue>)>> = const { RefCell::new(None) };
        }
        let build = || -> Vec<KeyValue> {
            self.pairs()
                .into_iter()
                .map(|(k, v)| KeyValue::new(k, Arc::<str>::from(v)))
                .collect()
        };
        LAST.try_with(|last| {
            let mut last = last.try_borrow_mut().ok()?;
            if !matches!(last.as_ref(), Some((c, _)) if c == self) {
                *last = Some((self.clone(), build()));
            }
            last.as_ref().map(|(_, attrs)| f(attrs))
        })
        .ok()
        .flatten()
        // Re-entered, or the thread is exiting: built for this call.
        .unwrap_or_else(|| f(&build()))
    }

    /// Reads a correlation back from `pairs` (e.g. W3C baggage); `None` without a valid
    /// `correlation_id`. Invalid optional ids are skipped.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Option<Self> {
        let mut id = None;
        // A placeholder id, replaced below (generating one would cost a getrandom call).
        let mut c = Correlation::with_id(CorrelationId(Uuid::nil()));
        for (k, v) in pairs {
            match k {
                keys::CORRELATION_ID => id = v.parse().ok(),
                keys::PARENT_CORRELATION_ID => c.parent_correlation_id = v.parse().ok(),
                keys::TASK_UUID => c.task_uuid = Uuid::parse_str(v).ok(),
                keys::STEP_UUID => c.step_uuid = Uuid::parse_str(v).ok(),
                keys::NAMESPACE => c.namespace = clean_namespace(Some(v)),
                _ => {}
            }
        }
        c.correlation_id = id?;
        Some(c)
    }

    /// This correlation placed in `cx` (spans created with that parent context carry it).
    pub fn into_context(self, cx: &Context) -> Context {
        cx.with_value(CorrelationValue(Arc::new(self)))
    }

    /// Makes this correlation current on this thread until the guard drops.
    pub fn enter(self) -> CorrelationGuard {
        CorrelationGuard {
            _guard: self.into_context(&Context::current()).attach(),
        }
    }

    /// Runs `f` with this correlation current.
    pub fn in_scope<T>(self, f: impl FnOnce() -> T) -> T {
        let _guard = self.enter();
        f()
    }

    /// The correlation current on this thread (from a scope, the current span or a remote context).
    pub fn current() -> Option<Arc<Correlation>> {
        Context::map_current(Self::from_context)
    }

    /// The correlation held by `cx`.
    pub fn from_context(cx: &Context) -> Option<Arc<Correlation>> {
        cx.get::<CorrelationValue>().map(|v| v.0.clone())
    }
}

/// How a [`Correlation`] is stored in an OpenTelemetry [`Context`].
#[derive(Debug, Clone)]
pub(crate) struct CorrelationValue(pub(crate) Arc<Correlation>);

/// Keeps a correlation current; dropping it restores the previous one.
#[must_use = "the correlation is current only while the guard lives"]
pub struct CorrelationGuard {
    _guard: ContextGuard,
}

impl fmt::Debug for CorrelationGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CorrelationGuard")
    }
}

/// Carries a correlation into a future (an async task spawned elsewhere keeps it).
///
/// ```
/// use tasker_telemetry::{Correlation, WithCorrelation};
///
/// let correlation = Correlation::new();
/// let id = correlation.correlation_id;
/// let fut = async { Correlation::current().map(|c| c.correlation_id) }.with_correlation(correlation);
/// let seen = futures_lite_block_on(fut);
/// assert_eq!(seen, Some(id));
/// # fn futures_lite_block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
/// # }
/// ```
pub trait WithCorrelation: Future + Sized {
    /// Wraps the future so that `correlation` is current whenever it is polled.
    fn with_correlation(
        self,
        correlation: Correlation,
    ) -> opentelemetry::context::WithContext<Self> {
        opentelemetry::context::FutureExt::with_context(
            self,
            correlation.into_context(&Context::current()),
        )
    }

    /// Wraps the future so that the current context (span and correlation) travels with it.
    fn in_current_context(self) -> opentelemetry::context::WithContext<Self> {
        opentelemetry::context::FutureExt::with_current_context(self)
    }
}

impl<F: Future> WithCorrelation for F {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_parts_generates_an_id_and_names_the_bad_field() {
        let c = Correlation::from_parts(None, None, None, None, Some("ns")).unwrap();
        assert_eq!(c.correlation_id.as_uuid().get_version_num(), 7);
        let err = Correlation::from_parts(None, None, Some("nope"), None, None).unwrap_err();
        assert!(err.to_string().contains("task_uuid"), "{err}");
        assert!(err.to_string().contains("nope"), "{err}");
    }

    #[test]
    fn pairs_round_trip() {
        let c = Correlation::new()
            .with_parent(CorrelationId::new())
            .with_task(Uuid::now_v7())
            .with_step(Uuid::now_v7())
            .with_namespace("ns");
        let pairs = c.pairs();
        let back = Correlation::from_pairs(pairs.iter().map(|(k, v)| (*k, v.as_str()))).unwrap();
        assert_eq!(back, c);
        assert!(Correlation::from_pairs([("correlation_id", "garbage")]).is_none());
    }

    #[test]
    fn scopes_nest_and_restore() {
        let outer = Correlation::new();
        let inner = Correlation::new();
        let (o, i) = (outer.correlation_id, inner.correlation_id);
        let _a = outer.enter();
        {
            let _b = inner.enter();
            assert_eq!(Correlation::current().unwrap().correlation_id, i);
        }
        assert_eq!(Correlation::current().unwrap().correlation_id, o);
    }
}
