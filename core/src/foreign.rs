//! The contract every binding follows: what the Ruby gem and the Python package do is decided
//! here once, and their glue crates only convert values and raise errors in their language's
//! words.
//!
//! - start-up: [`startup`] (console logging, automatic export from the environment, what an
//!   invalid setting does), [`init`] (explicit start, after an automatic one too), and the
//!   default [`timeout`] of `flush`/`shutdown` (the configured one);
//! - spans: [`ForeignSpan`] (open or ended, its ids, attributes, events, exceptions), started
//!   under a [`ForeignParent`] that the binding keeps in its language's own context
//!   (contextvars, fiber-local storage): see [`resolve`] for how a parent is chosen;
//! - [`event`], [`current`], [`inject`], [`record_metric`], [`run_step`];
//! - [`catch_panic`]: no Rust panic ever unwinds into Ruby or Python;
//! - [`ForeignError`]: configuration errors apart from run-time ones, so that each language can
//!   raise a distinct exception class.
//!
//! **The context rule.** The current span of Ruby or Python code is the one in the language's
//! own context, passed to every call here. A span current on this thread in Rust (`tracing`'s
//! current span) is used only when a Rust span called into the language (an orchestrator
//! running a handler in-process, [`run_step`]'s caller): it was entered *after* the language's
//! current span started, or there is no language span. Nothing here leaves a span entered or a
//! context attached on the thread when the call returns, so fibers, threads, generators and
//! asyncio tasks that share a thread never see each other's spans.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use opentelemetry::trace::{SpanContext, TraceContextExt};
use opentelemetry::Context;
use tracing::Level;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::config::{EnvSource, ProcessEnv, TelemetryConfig};
use crate::correlation::Correlation;
use crate::dynamic::{self, DynSpan, EventArgs, Parent, SpanStart};
use crate::error::{ConfigError, TelemetryError};
use crate::fields::{Exception, FieldValue, Fields};
use crate::handler;
use crate::lifecycle::LifecycleEvent;
use crate::metrics::{self, InstrumentKind};
use crate::pipeline;
use crate::propagation::{self, RemoteContext};
use crate::step::{StepMessage, StepRun};

/// Environment variables whose presence starts export when a binding is loaded.
pub const AUTO_INIT_VARIABLES: &[&str] = &[
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
    "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
    "TASKER_OTLP_FILE",
    "TASKER_CONFIG",
];

/// Set to `0` (or `false`, `no`, `off`) to keep export from starting at load.
pub const AUTO_INIT_SWITCH: &str = "TASKER_TRACING_AUTO_INIT";

/// Target of the start-up messages.
const TARGET: &str = "tasker_telemetry";

/// An error a binding raises: configuration (raise the language's `ConfigError`) or run time.
#[derive(Debug, thiserror::Error)]
pub enum ForeignError {
    /// Invalid configuration, or `init` called twice.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Invalid input or a failed delivery.
    #[error(transparent)]
    Telemetry(#[from] TelemetryError),
    /// A Rust panic, caught before it reached the interpreter.
    #[error("internal error in tasker-telemetry {what} (please report it): {detail}")]
    Panic {
        /// The operation that panicked.
        what: &'static str,
        /// The panic's message.
        detail: String,
    },
}

/// Runs `f`, turning a Rust panic into [`ForeignError::Panic`] naming `what`.
pub fn catch_panic<T>(what: &'static str, f: impl FnOnce() -> T) -> Result<T, ForeignError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|payload| {
        let detail = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_owned());
        ForeignError::Panic { what, detail }
    })
}

// ------------------------------------------------------------------------------------------
// Start-up

/// What [`startup`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Startup {
    /// Whether export started.
    pub exporting: bool,
    /// The error line printed, when a setting was invalid or export could not start.
    pub problem: Option<String>,
}

/// Whether the environment asks for export at load: one of [`AUTO_INIT_VARIABLES`] is set, or
/// `OTEL_METRICS_EXPORTER` names `prometheus` (the scrape server starts at load).
pub fn auto_init_requested(env: &dyn EnvSource) -> bool {
    let prometheus = env.var("OTEL_METRICS_EXPORTER").is_some_and(|v| {
        v.split(',')
            .any(|e| e.trim().eq_ignore_ascii_case("prometheus"))
    });
    auto_init_switch(env).unwrap_or(true)
        && (prometheus || AUTO_INIT_VARIABLES.iter().any(|v| env.var(v).is_some()))
}

/// [`AUTO_INIT_SWITCH`] as a boolean (unset: on); an error naming the value when it is neither.
fn auto_init_switch(env: &dyn EnvSource) -> Result<bool, String> {
    match env.var(AUTO_INIT_SWITCH) {
        None => Ok(true),
        Some(v) => match v.trim().to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => Ok(true),
            "0" | "false" | "no" | "off" => Ok(false),
            _ => Err(format!(
                "invalid value {v:?} for {AUTO_INIT_SWITCH}: expected 0 or 1 (or true/false); export starts as if it were unset"
            )),
        },
    }
}

/// What a binding does when it is loaded (`require`, `import`), the same in every language:
/// console logging from the configuration (`TASKER_CONFIG`, `TASKER_ENV` overlay,
/// `TASKER_LOG_*`, `OTEL_*`), and export when [`auto_init_requested`]. An invalid setting never
/// silences output: the console falls back to the defaults, export does not start, and one
/// error line (on the console, through the defaults) names the variable or key, the value and
/// what is allowed.
pub fn startup() -> Startup {
    startup_from(&ProcessEnv)
}

/// [`startup`] with an explicit environment (tests).
pub fn startup_from(env: &dyn EnvSource) -> Startup {
    let auto = auto_init_requested(env);
    let (config, problem) = match TelemetryConfig::load_from(None, env) {
        Ok(config) => (config, None),
        Err(e) => (TelemetryConfig::default(), Some(e)),
    };
    if let Err(e) = pipeline::init_logging(&config) {
        // Only a foreign global subscriber can make this fail; the host's logging stays as is.
        return Startup {
            exporting: false,
            problem: Some(report(&e, false)),
        };
    }
    if let Some(e) = problem {
        return Startup {
            exporting: false,
            problem: Some(report(&e, auto)),
        };
    }
    let switch_problem = auto_init_switch(env).err().map(|line| {
        tracing::error!(target: TARGET, "{line}");
        line
    });
    if !auto {
        return Startup {
            exporting: false,
            problem: switch_problem,
        };
    }
    match pipeline::start_automatically(config) {
        Ok(()) => Startup {
            exporting: pipeline::is_exporting(),
            problem: switch_problem,
        },
        Err(e) => Startup {
            exporting: false,
            problem: Some(report(&e, true)),
        },
    }
}

/// Prints the start-up problem as one error line and returns it.
fn report(e: &ConfigError, export_asked: bool) -> String {
    let line = if export_asked {
        format!("{e}; console logging uses the defaults and export was not started")
    } else {
        format!("{e}; console logging uses the defaults")
    };
    tracing::error!(target: TARGET, "{line}");
    line
}

/// The explicit start (`TaskerCore::Tracing.init`, `tracing.init()`): the configuration from
/// `path` (else `TASKER_CONFIG`), the `TASKER_ENV` overlay and the environment, then
/// `overrides` (native values, see [`TelemetryConfig::set_value`]). After an automatic start it
/// applies the overrides: export restarts with the merged configuration and nothing recorded
/// before is lost. A second explicit call is [`ConfigError::AlreadyInitialized`] naming `call`
/// (the language's spelling of `init`).
pub fn init(
    call: &'static str,
    path: Option<&Path>,
    overrides: &[(String, FieldValue)],
) -> Result<(), ForeignError> {
    let mut config = TelemetryConfig::load_from(path, &ProcessEnv)?;
    for (key, value) in overrides {
        config.set_value(key, value)?;
    }
    pipeline::start_explicitly(call, config)?;
    Ok(())
}

/// A correlation from the parts a binding passes (`correlation_id`, `parent_correlation_id`,
/// `task_uuid`, `step_uuid`, `namespace`; a UUIDv7 when `correlation_id` is missing); an id
/// that is not a UUID is an error naming it.
pub fn correlation(parts: [Option<String>; 5]) -> Result<Correlation, TelemetryError> {
    let [correlation_id, parent_correlation_id, task_uuid, step_uuid, namespace] = parts;
    Correlation::from_parts(
        correlation_id.as_deref(),
        parent_correlation_id.as_deref(),
        task_uuid.as_deref(),
        step_uuid.as_deref(),
        namespace.as_deref(),
    )
}

/// A timeout in seconds as a binding takes it: `None` is the configured
/// `telemetry.otlp.shutdown_timeout_ms`; negative, infinite or NaN is an error.
pub fn timeout(seconds: Option<f64>) -> Result<Duration, TelemetryError> {
    match seconds {
        None => Ok(pipeline::shutdown_timeout()),
        Some(s) => pipeline::timeout_from_secs(s),
    }
}

/// How long a binding waits for a flush or shutdown before it checks its interpreter's signals
/// and interrupts again (see [`wait`]).
pub const WAIT_SLICE: Duration = Duration::from_millis(50);

/// Waits for a flush or shutdown: `released(pending)` waits one slice without the interpreter
/// lock (GIL, GVL; its error: an interrupt that came before the slice could start) and
/// `check()` runs between slices with it, raising a pending Ctrl-C,
/// `Thread#raise` or `Thread#kill` as its error, which ends the wait at once (the work goes on
/// in the background, bounded by the export timeouts).
pub fn wait<E>(
    mut pending: pipeline::Pending,
    mut released: impl FnMut(&mut pipeline::Pending) -> Result<Option<Result<(), TelemetryError>>, E>,
    mut check: impl FnMut() -> Result<(), E>,
) -> Result<Result<(), TelemetryError>, E> {
    loop {
        if let Some(outcome) = released(&mut pending)? {
            return Ok(outcome);
        }
        check()?;
    }
}

// ------------------------------------------------------------------------------------------
// Spans and parents

enum State {
    Open(DynSpan),
    /// Ended: its context, for children started later (from a copied context, say).
    Ended(Context),
}

/// A span started by Ruby or Python code. Ends on [`end`](Self::end), or when dropped.
pub struct ForeignSpan {
    state: Mutex<State>,
    /// The Rust span current on the thread when this span started (see [`resolve`]).
    caller: Option<tracing::Id>,
    /// The language-side parent it started under; stands in for it once detached.
    parent: Option<ForeignParent>,
    /// Set by [`detach`](Self::detach): the binding could not take it out of a context.
    detached: AtomicBool,
    /// The correlation a handler span made current, and the one current before it: once the
    /// span is detached, a context still holding the first gets the second.
    brought: Option<(Arc<Correlation>, Option<Arc<Correlation>>)>,
    /// Its ids, kept after the end.
    ids: opentelemetry::trace::SpanContext,
}

impl std::fmt::Debug for ForeignSpan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ForeignSpan")
            .field("span_id", &self.span_id())
            .field("finished", &self.is_finished())
            .finish()
    }
}

/// Where a binding's new span or event attaches: the span or remote context current in the
/// language's own context.
#[derive(Debug, Clone)]
pub enum ForeignParent {
    /// A span of the language.
    Span(Arc<ForeignSpan>),
    /// A context from another process's headers.
    Remote(Arc<RemoteContext>),
}

/// The parent a new span or event gets, decided by [`resolve`].
#[derive(Debug)]
pub enum Resolved<'a> {
    /// The language's span.
    Span(&'a ForeignSpan),
    /// The language's remote context.
    Remote(&'a RemoteContext),
    /// The Rust span current on this thread (or none: a new trace).
    Current,
}

/// The id of the Rust span current on this thread. (The registry's ids carry their slot's
/// generation, so a closed span's id does not come back for a new span.)
fn current_rust_span() -> Option<tracing::Id> {
    tracing::dispatcher::get_default(|d| d.current_span().id().cloned())
}

/// The parent rule, the same for every language. The language's parent is used, unless a Rust
/// span was entered on this thread after that parent started (Rust code called from inside it
/// called back into the language: then the Rust span is the parent). A span the binding
/// [detached](ForeignSpan::detach) stands aside for its own parent. Without a language parent,
/// the Rust span current on this thread, if any. A span that has ended is still a parent.
pub fn resolve(parent: Option<&ForeignParent>) -> Resolved<'_> {
    match standing(parent) {
        None => Resolved::Current,
        Some(ForeignParent::Remote(r)) => Resolved::Remote(r),
        Some(ForeignParent::Span(s)) => match current_rust_span() {
            Some(now) if Some(&now) != s.caller.as_ref() => Resolved::Current,
            _ => Resolved::Span(s),
        },
    }
}

/// The language's parent with [detached](ForeignSpan::detach) spans stepped over.
fn standing(mut parent: Option<&ForeignParent>) -> Option<&ForeignParent> {
    while let Some(ForeignParent::Span(s)) = parent {
        if !s.detached.load(Ordering::Relaxed) {
            break;
        }
        parent = s.parent.as_ref();
    }
    parent
}

/// The current span as an API of the language shows it (the OpenTelemetry API bridge's
/// `get_current_span`), by the rule of [`resolve`].
#[derive(Debug, Clone)]
pub enum Shown {
    /// A span or remote context of the language.
    Language(ForeignParent),
    /// The Rust span current on this thread.
    Rust(SpanContext),
    /// None: a new span would start a trace.
    Nothing,
}

/// What the language's APIs show as the current span, given the language's `parent` (see
/// [`resolve`]).
pub fn shown(parent: Option<&ForeignParent>) -> Shown {
    let standing = standing(parent);
    match resolve(standing) {
        Resolved::Span(_) | Resolved::Remote(_) => {
            standing.cloned().map_or(Shown::Nothing, Shown::Language)
        }
        Resolved::Current => {
            let cx = thread_context();
            let span = cx.span();
            let sc = span.span_context();
            if sc.is_valid() {
                Shown::Rust(sc.clone())
            } else {
                Shown::Nothing
            }
        }
    }
}

/// A correlation withdrawn with its span, and the one current before it.
type Withdrawn = (Weak<Correlation>, Option<Arc<Correlation>>);

/// Correlations withdrawn with a detached handler span that brought them, and the one current
/// before each. Rare: only spans the binding could not take out of a context land here.
static WITHDRAWN: Mutex<Vec<Withdrawn>> = Mutex::new(Vec::new());
static ANY_WITHDRAWN: AtomicBool = AtomicBool::new(false);

fn withdraw(brought: &Arc<Correlation>, before: Option<Arc<Correlation>>) {
    let mut table = WITHDRAWN.lock().unwrap_or_else(|e| e.into_inner());
    table.retain(|(w, _)| w.strong_count() > 0);
    table.push((Arc::downgrade(brought), before));
    ANY_WITHDRAWN.store(true, Ordering::Release);
}

/// The language's correlation, unless a detached handler span brought it (a context left
/// holding it, such as a generator's finished on another thread): then the correlation that
/// was current before that span.
fn correlation_in_effect(correlation: Option<&Arc<Correlation>>) -> Option<Arc<Correlation>> {
    let mut correlation = correlation.cloned();
    if !ANY_WITHDRAWN.load(Ordering::Acquire) {
        return correlation;
    }
    let table = WITHDRAWN.lock().unwrap_or_else(|e| e.into_inner());
    // Each step goes to an older correlation; the bound only guards against a cycle.
    for _ in 0..table.len() {
        let Some(c) = &correlation else { break };
        match table
            .iter()
            .find(|(w, _)| std::ptr::eq(w.as_ptr(), Arc::as_ptr(c)))
        {
            Some((_, before)) => correlation = before.clone(),
            None => break,
        }
    }
    correlation
}

/// Calls `f` with the core's [`Parent`] for `parent` (see [`resolve`]).
pub fn with_parent<R>(parent: Option<&ForeignParent>, f: impl FnOnce(Parent<'_>) -> R) -> R {
    match resolve(parent) {
        Resolved::Span(s) => s.with_parent(f),
        Resolved::Remote(r) => f(Parent::Remote(r)),
        Resolved::Current => f(Parent::Current),
    }
}

/// The OpenTelemetry context of the Rust span current on this thread.
fn thread_context() -> Context {
    let cx = tracing::Span::current().context();
    if cx.span().span_context().is_valid() {
        cx
    } else {
        Context::current()
    }
}

/// The OpenTelemetry context `parent` stands for (see [`resolve`]), with `correlation` in it
/// when given.
pub fn parent_context(
    parent: Option<&ForeignParent>,
    correlation: Option<&Arc<Correlation>>,
) -> Context {
    let correlation = correlation_in_effect(correlation);
    let cx = match resolve(parent) {
        Resolved::Span(s) => s.context(),
        Resolved::Remote(r) => r.context().clone(),
        Resolved::Current => thread_context(),
    };
    match correlation {
        Some(c) => (*c).clone().into_context(&cx),
        None => cx,
    }
}

/// What a binding's new span starts with: its converted arguments and the language's current
/// parent.
pub type Start<'a> = SpanStart<'a, Option<&'a ForeignParent>>;

impl ForeignSpan {
    fn wrap(span: DynSpan, parent: Option<&ForeignParent>, caller: Option<tracing::Id>) -> Self {
        ForeignSpan {
            ids: span.context().span().span_context().clone(),
            state: Mutex::new(State::Open(span)),
            caller,
            parent: parent.cloned(),
            detached: AtomicBool::new(false),
            brought: None,
        }
    }

    /// Starts a span under the language's parent (see [`resolve`]).
    pub fn start(args: Start<'_>) -> ForeignSpan {
        let caller = current_rust_span();
        let correlation = correlation_in_effect(args.correlation);
        let span = with_parent(args.parent, |parent| {
            DynSpan::start(SpanStart {
                name: args.name,
                level: args.level,
                target: args.target,
                fields: args.fields,
                parent,
                correlation: correlation.as_ref(),
            })
        });
        Self::wrap(span, args.parent, caller)
    }

    /// Starts a span of an OpenTelemetry span `kind` (the API bridge's spans): as
    /// [`start`](Self::start), the kind given to the exporter through `otel.kind`.
    pub fn start_with_kind(args: Start<'_>, kind: crate::bridge::SpanKind) -> ForeignSpan {
        if kind == crate::bridge::SpanKind::Internal {
            return Self::start(args);
        }
        let mut fields = args.fields.clone();
        fields.insert_scalar(
            "otel.kind",
            crate::fields::Scalar::Str(kind.as_str().to_owned()),
        );
        Self::start(Start {
            fields: &fields,
            ..args
        })
    }

    /// Starts the `handler_execution` span of a step handler (see
    /// [`handler::start_handler_span`]); returns it with the step's correlation, which the
    /// binding makes current.
    pub fn handler(
        handler_name: &str,
        context: &Fields,
        parent: Option<&ForeignParent>,
        correlation: Option<&Arc<Correlation>>,
    ) -> Result<(ForeignSpan, Arc<Correlation>), TelemetryError> {
        let caller = current_rust_span();
        let inherited = correlation_in_effect(correlation);
        let started = with_parent(parent, |p| {
            handler::start_handler_span(handler_name, context, p, inherited.as_ref())
        })?;
        let mut span = Self::wrap(started.span, parent, caller);
        span.brought = Some((started.correlation.clone(), inherited));
        Ok((span, started.correlation))
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn with_open(&self, f: impl FnOnce(&DynSpan)) {
        if let State::Open(span) = &*self.state() {
            f(span)
        }
    }

    /// Calls `f` with this span as the parent (its context once it has ended).
    fn with_parent<R>(&self, f: impl FnOnce(Parent<'_>) -> R) -> R {
        let state = self.state();
        match &*state {
            State::Open(span) => f(Parent::Span(span)),
            State::Ended(cx) => {
                let cx = cx.clone();
                drop(state);
                f(Parent::Context(&cx))
            }
        }
    }

    /// The span's OpenTelemetry context.
    pub fn context(&self) -> Context {
        match &*self.state() {
            State::Open(span) => span.context().clone(),
            State::Ended(cx) => cx.clone(),
        }
    }

    /// Trace id (32 hex digits), when recorded.
    pub fn trace_id(&self) -> Option<String> {
        self.ids.is_valid().then(|| self.ids.trace_id().to_string())
    }

    /// Span id (16 hex digits), when recorded.
    pub fn span_id(&self) -> Option<String> {
        self.ids.is_valid().then(|| self.ids.span_id().to_string())
    }

    /// Whether any output records this span (false once ended).
    pub fn is_recording(&self) -> bool {
        matches!(&*self.state(), State::Open(s) if !s.is_disabled())
    }

    /// Whether it has ended.
    pub fn is_finished(&self) -> bool {
        matches!(&*self.state(), State::Ended(_))
    }

    /// Sets attributes after the start (a map value sets one per flattened key).
    pub fn set(&self, fields: &Fields) {
        self.with_open(|span| {
            for (k, v) in fields.iter() {
                span.set(k, v);
            }
        })
    }

    /// Adds a span event.
    pub fn add_event(&self, name: &str, fields: &Fields) {
        self.with_open(|span| span.add_event(name, fields))
    }

    /// Records an exception (`exception.*` attributes and event) and sets the error status.
    pub fn record_exception(&self, exception: Exception<'_>) {
        self.with_open(|span| {
            span.record_exception(exception.kind, exception.message, exception.stacktrace)
        })
    }

    /// Sets the error status with a description.
    pub fn set_error(&self, description: &str) {
        self.with_open(|span| span.set_error(description))
    }

    /// Sets the OK status (the OpenTelemetry API's `StatusCode.OK`).
    pub fn set_ok(&self) {
        self.with_open(|span| span.set_ok())
    }

    /// Renames the exported span (the OpenTelemetry API's `update_name`).
    pub fn update_name(&self, name: &str) {
        self.with_open(|span| span.update_name(name))
    }

    /// Adds a link to another span (see [`crate::bridge::span_context`]), with attributes.
    pub fn add_link(&self, to: SpanContext, fields: &Fields) {
        self.with_open(|span| span.add_link(to, fields))
    }

    /// The span's OpenTelemetry span context (ids, trace flags, `tracestate`); invalid when
    /// the span is not recorded.
    pub fn span_context(&self) -> &SpanContext {
        &self.ids
    }

    /// Whether the span is sampled for export (its parent's decision, or the sampler's).
    pub fn is_sampled(&self) -> bool {
        self.ids.is_sampled()
    }

    /// Ends the span at `time` instead of now (idempotent, as [`end`](Self::end)).
    pub fn end_at(&self, time: std::time::SystemTime) {
        let mut state = self.state();
        if let State::Open(span) = &*state {
            let cx = span.context().clone();
            if let State::Open(span) = std::mem::replace(&mut *state, State::Ended(cx)) {
                span.end_at(time);
            }
        }
    }

    /// Ends the span (idempotent).
    pub fn end(&self) {
        let mut state = self.state();
        if let State::Open(span) = &*state {
            let cx = span.context().clone();
            // Dropping the running span ends it.
            *state = State::Ended(cx);
        }
    }

    /// Marks the span as no longer current anywhere: where a language context still holds it
    /// (a generator finished on another thread, an out-of-order exit), new spans and events
    /// attach to its own parent instead.
    pub fn detach(&self) {
        self.detached.store(true, Ordering::Relaxed);
        if let Some((brought, before)) = &self.brought {
            withdraw(brought, before.clone());
        }
    }
}

impl Drop for ForeignSpan {
    fn drop(&mut self) {
        // May run during a garbage collection: end the span without unwinding.
        let state = std::mem::replace(
            self.state.get_mut().unwrap_or_else(|e| e.into_inner()),
            State::Ended(Context::new()),
        );
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(state)));
    }
}

// ------------------------------------------------------------------------------------------
// Events, ids, propagation, metrics

/// A log event from a binding.
#[derive(Debug, Clone, Copy)]
pub struct Event<'a> {
    /// Level.
    pub level: Level,
    /// Target (logger name, module).
    pub target: &'a str,
    /// Message.
    pub message: &'a str,
    /// Fields.
    pub fields: &'a Fields,
    /// An exception logged with it (`exception.*` fields).
    pub exception: Option<Exception<'a>>,
    /// Print it on the console (false: the host's logging framework prints it already; it is
    /// still exported).
    pub console: bool,
    /// The language's current parent.
    pub parent: Option<&'a ForeignParent>,
    /// The language's current correlation.
    pub correlation: Option<&'a Arc<Correlation>>,
}

/// Emits a log event under the language's parent.
pub fn event(args: Event<'_>) {
    let with_exception;
    let fields = match args.exception {
        Some(e) => {
            let mut all = args.fields.clone();
            all.extend(e.fields());
            with_exception = all;
            &with_exception
        }
        None => args.fields,
    };
    let correlation = correlation_in_effect(args.correlation);
    let emit = || {
        with_parent(args.parent, |parent| {
            dynamic::event(EventArgs {
                level: args.level,
                target: args.target,
                message: args.message,
                fields,
                parent,
                correlation: correlation.as_ref(),
            })
        })
    };
    if args.console {
        emit()
    } else {
        crate::console::muted(emit)
    }
}

/// `set_health(component, status, reason)` as the bindings take it: the status by name
/// (`healthy`, `degraded`, `unhealthy`; see [`crate::health::set`]).
pub fn set_health(
    component: &str,
    status: &str,
    reason: Option<&str>,
) -> Result<(), TelemetryError> {
    crate::health::set(
        component,
        crate::health::HealthStatus::parse(status)?,
        reason,
    )
}

/// The ids and correlation a new span would have as its parent's.
#[derive(Debug, Clone, Default)]
pub struct Current {
    /// Trace id (32 hex digits).
    pub trace_id: Option<String>,
    /// Span id (16 hex digits).
    pub span_id: Option<String>,
    /// The correlation in effect: the language's, else the parent's, else a Rust scope's.
    pub correlation: Option<Arc<Correlation>>,
}

/// The current trace id, span id and correlation for the language's context.
pub fn current(parent: Option<&ForeignParent>, correlation: Option<&Arc<Correlation>>) -> Current {
    let thread = matches!(resolve(parent), Resolved::Current);
    let cx = parent_context(parent, correlation);
    let (trace_id, span_id) = propagation::ids(&cx).unzip();
    let correlation =
        Correlation::from_context(&cx).or_else(|| thread.then(Correlation::current).flatten());
    Current {
        trace_id,
        span_id,
        correlation,
    }
}

/// W3C headers (`traceparent`, `tracestate`, `baggage` with the correlation) for the language's
/// context.
pub fn inject(
    parent: Option<&ForeignParent>,
    correlation: Option<&Arc<Correlation>>,
) -> HashMap<String, String> {
    propagation::inject_context(&parent_context(parent, correlation))
}

/// Records `value` on the instrument of kind `kind` (`counter`, `up_down_counter`, `histogram`,
/// `gauge`) named `name`.
pub fn record_metric(
    kind: &str,
    name: &str,
    value: f64,
    labels: &Fields,
) -> Result<(), TelemetryError> {
    let kind = InstrumentKind::from_name(kind)?;
    metrics::record(kind, name, value, &metrics::labels(labels))
}

/// Emits the lifecycle event `name` (`step.completed`, ...) along the core's route under the
/// language's parent: span event, log line, counter and, with `duration_ms`, the histogram.
pub fn lifecycle(
    name: &str,
    duration_ms: Option<f64>,
    labels: &Fields,
    fields: &Fields,
    parent: Option<&ForeignParent>,
    correlation: Option<&Arc<Correlation>>,
) -> Result<(), TelemetryError> {
    let event = LifecycleEvent::parse(name)?;
    let duration = duration_ms
        .map(LifecycleEvent::duration_from_ms)
        .transpose()?;
    let labels = metrics::labels(labels);
    let correlation = correlation_in_effect(correlation);
    with_parent(parent, |p| {
        event.emit_with(p, correlation.as_ref(), duration, &labels, fields)
    });
    Ok(())
}

// ------------------------------------------------------------------------------------------
// The per-step path

/// How a handler run by [`run_step`] ended, as the binding reports it.
#[derive(Debug)]
pub enum Outcome<T, E> {
    /// Returned a value.
    Ok(T),
    /// Raised: the step is marked failed with `description`, and the error goes on.
    Failed {
        /// The error to pass on.
        error: E,
        /// Its text for the `step.failed` event and the error status.
        description: String,
    },
    /// Left by a non-local exit (Ruby `throw`/`break`): the step completes, and the jump goes
    /// on.
    Jumped(E),
}

/// Runs the handler as the step `message` (flattened fields: `step_name`, `handler`,
/// `attempt`, correlation ids, `headers.*`) through the core's per-step path: the
/// `execute_step` span continues `headers` when valid, else the language's current span (see
/// [`resolve`]). The handler gets the span and the step's correlation to make current in the
/// language's context; nothing is entered on the thread.
pub fn run_step<T, E>(
    message: &Fields,
    parent: Option<&ForeignParent>,
    handler: impl FnOnce(Arc<ForeignSpan>, Arc<Correlation>) -> Outcome<T, E>,
) -> Result<Result<T, E>, TelemetryError> {
    let message = StepMessage::from_fields(message)?;
    let caller = current_rust_span();
    let run = with_parent(parent, |p| StepRun::start(&message, p));
    let span = Arc::new(ForeignSpan::wrap(run.span().clone(), parent, caller));
    let outcome = handler(span.clone(), run.correlation().clone());
    span.end();
    Ok(match outcome {
        Outcome::Ok(value) => {
            run.finish(None);
            Ok(value)
        }
        Outcome::Failed { error, description } => {
            run.finish(Some(&description));
            Err(error)
        }
        Outcome::Jumped(error) => {
            run.finish(None);
            Err(error)
        }
    })
}
