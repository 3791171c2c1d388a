//! The global pipeline: one `tracing` subscriber (console layer, OpenTelemetry trace layer,
//! OTLP log layer, each with its own filter), installed once, configured in two phases:
//! [`init_logging`] (console only, no runtime, safe at extension load) and [`init`] (export).

use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use arc_swap::{ArcSwap, ArcSwapOption};
use opentelemetry::trace::TracerProvider as _;
use tracing_subscriber::filter::FilterExt;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::{reload, EnvFilter, Layer, Registry};

use crate::config::TelemetryConfig;
use crate::console::{ConsoleLayer, ConsoleSettings, ConsoleWriter};
use crate::error::{ConfigError, Origin, TelemetryError};
use crate::events::{Gated, Suppressing};
use crate::export::{self, Exporters, SwapTracer};
use crate::lifecycle::LIFECYCLE_TARGET;
use crate::logs::LogExportLayer;
use crate::redaction::Redactor;
use crate::slow_operations::{SlowOperationLayer, SpansOf};
use crate::stats;

/// Targets never exported as OTLP logs (the exporters' own logs would loop).
const EXPORTER_TARGETS: &[&str] = &[
    "opentelemetry",
    "opentelemetry_sdk",
    "opentelemetry_otlp",
    "opentelemetry-otlp",
    "hyper",
    "hyper_util",
    "h2",
    "tonic",
    "tower",
    "reqwest",
    "tasker_telemetry::export",
];

/// Targets of the OpenTelemetry SDK's own diagnostics. They are not printed on the console
/// unless the console filter names them (`info,opentelemetry_sdk=warn`): the SDK logs an error
/// per failed export request, which would flood the console while a collector is down. Drops
/// and failed exports are reported instead by the core's rate-limited warning
/// (see [`crate::stats`]) and by the errors of `flush` and `shutdown`.
const SDK_DIAGNOSTIC_TARGETS: &[&str] = &["opentelemetry"];

/// Default timeout of the guard's shutdown on drop.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

type Reload = Box<dyn Fn(EnvFilter) -> Result<(), String> + Send + Sync>;

pub(crate) struct Pipeline {
    console: Arc<ArcSwap<ConsoleSettings>>,
    console_filter: Reload,
    trace_filter: Reload,
    logs_filter: Reload,
    tracer: SwapTracer,
    logger: Arc<ArcSwapOption<opentelemetry_sdk::logs::SdkLogger>>,
    log_redactor: Arc<ArcSwap<Redactor>>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    initialized: bool,
    /// Started by a binding at load ([`crate::foreign::startup`]), not by an explicit call.
    automatic: bool,
    shut_down: bool,
    config: Option<TelemetryConfig>,
    exporters: Option<Exporters>,
}

static PIPELINE: OnceLock<Pipeline> = OnceLock::new();
static INSTALL: Mutex<()> = Mutex::new(());

fn env_filter(key: &'static str, directives: &str) -> Result<EnvFilter, ConfigError> {
    EnvFilter::builder()
        .parse(directives)
        .map_err(|e| ConfigError::InvalidValue {
            key,
            origin: Origin::Override,
            value: format!("{directives:?}"),
            allowed: format!("a filter in RUST_LOG syntax ({e})"),
        })
}

fn console_directives(config: &TelemetryConfig) -> String {
    let mut d = config.logging.level.clone();
    for t in SDK_DIAGNOSTIC_TARGETS {
        // Unless the level names the target itself (`info,opentelemetry_sdk=debug`).
        if !d.split(',').any(|x| x.trim().starts_with(t)) {
            d.push_str(&format!(",{t}=off"));
        }
    }
    d
}

fn trace_directives(config: &TelemetryConfig) -> String {
    format!("{},{LIFECYCLE_TARGET}=off", config.logging.export_level)
}

fn logs_directives(config: &TelemetryConfig) -> String {
    if !(config.logging.export_logs && config.exports()) {
        return "off".to_owned();
    }
    let mut d = config.logging.export_level.clone();
    for t in EXPORTER_TARGETS {
        d.push_str(&format!(",{t}=off"));
    }
    d
}

/// Reloads `main` with a filter and `twin` with the same directives: the slow-operation layer's
/// filter is the union of twins of the console and trace filters, so that it sees exactly the
/// spans another layer records (an unfiltered layer would enable every span).
fn reload_pair(
    main: impl Fn(EnvFilter) -> Result<(), String> + Send + Sync + 'static,
    twin: impl Fn(EnvFilter) -> Result<(), String> + Send + Sync + 'static,
) -> Reload {
    Box::new(move |f: EnvFilter| {
        let copy = EnvFilter::builder()
            .parse(f.to_string())
            .map_err(|e| e.to_string())?;
        main(f)?;
        twin(copy)
    })
}

fn reload_err(e: impl std::fmt::Display) -> ConfigError {
    ConfigError::InvalidValue {
        key: "telemetry.logging.level",
        origin: Origin::Override,
        value: String::new(),
        allowed: format!("a filter that can be applied ({e})"),
    }
}

/// Builds the subscriber stack (console, trace and log-export layers with reloadable filters)
/// around `tracer`. The global pipeline and [`crate::testing`] share it.
pub(crate) fn build_subscriber(
    config: &TelemetryConfig,
    writer: Option<ConsoleWriter>,
    tracer: SwapTracer,
) -> Result<(impl tracing::Subscriber + Send + Sync + 'static, Pipeline), ConfigError> {
    let snapshot = config.snapshot();
    let console = Arc::new(ArcSwap::from_pointee(ConsoleSettings::from_config(
        &config.logging,
        writer,
        snapshot.redactor.clone(),
    )));
    let (console_filter, console_handle) = reload::Layer::new(env_filter(
        "telemetry.logging.level",
        &console_directives(config),
    )?);
    let (trace_filter, trace_handle) = reload::Layer::new(env_filter(
        "telemetry.logging.export_level",
        &trace_directives(config),
    )?);
    let (logs_filter, logs_handle) = reload::Layer::new(EnvFilter::new("off"));
    let (slow_console, slow_console_handle) = reload::Layer::new(env_filter(
        "telemetry.logging.level",
        &console_directives(config),
    )?);
    let (slow_trace, slow_trace_handle) = reload::Layer::new(env_filter(
        "telemetry.logging.export_level",
        &trace_directives(config),
    )?);
    let logger = Arc::new(ArcSwapOption::empty());
    let log_redactor = Arc::new(ArcSwap::new(snapshot.redactor));

    // The slow-operation layer comes first: its `on_close` runs before the OpenTelemetry
    // layer's, which takes the span's OpenTelemetry data (the correlation) away. Each output
    // layer skips the events the suppression rules drop ([`crate::events`]).
    let layers = Registry::default()
        .with(SlowOperationLayer::default().with_filter(SpansOf(slow_console.or(slow_trace))))
        .with(
            Gated {
                span_copy: true,
                inner: tracing_opentelemetry::layer()
                    .with_tracer(tracer.clone())
                    // thread.* and busy_ns/idle_ns cost a lookup and clock reads per span and say little.
                    .with_threads(false)
                    .with_tracked_inactivity(false),
            }
            .with_filter(trace_filter),
        )
        .with(
            Gated {
                span_copy: false,
                inner: LogExportLayer {
                    logger: logger.clone(),
                    redactor: log_redactor.clone(),
                },
            }
            .with_filter(logs_filter),
        )
        .with(
            Gated {
                span_copy: false,
                inner: ConsoleLayer {
                    settings: console.clone(),
                },
            }
            .with_filter(console_filter),
        );
    let subscriber = Suppressing { inner: layers };
    let pipeline = Pipeline {
        console,
        console_filter: reload_pair(
            move |f| console_handle.reload(f).map_err(|e| e.to_string()),
            move |f| slow_console_handle.reload(f).map_err(|e| e.to_string()),
        ),
        trace_filter: reload_pair(
            move |f| trace_handle.reload(f).map_err(|e| e.to_string()),
            move |f| slow_trace_handle.reload(f).map_err(|e| e.to_string()),
        ),
        logs_filter: Box::new(move |f| logs_handle.reload(f).map_err(|e| e.to_string())),
        tracer,
        logger,
        log_redactor,
        state: Mutex::new(State::default()),
    };
    Ok((subscriber, pipeline))
}

fn pipeline(
    config: &TelemetryConfig,
    writer: Option<ConsoleWriter>,
) -> Result<&'static Pipeline, ConfigError> {
    if let Some(p) = PIPELINE.get() {
        return Ok(p);
    }
    let _lock = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = PIPELINE.get() {
        return Ok(p);
    }
    let tracer = SwapTracer::new(export::local_tracer_provider(config).tracer(export::SCOPE));
    let (subscriber, pipeline) = build_subscriber(config, writer, tracer)?;
    tracing::subscriber::set_global_default(subscriber)
        .map_err(|_| ConfigError::SubscriberConflict)?;
    Ok(PIPELINE.get_or_init(|| pipeline))
}

fn apply_logging(
    p: &Pipeline,
    config: &TelemetryConfig,
    writer: Option<ConsoleWriter>,
) -> Result<(), ConfigError> {
    let console_filter = env_filter("telemetry.logging.level", &console_directives(config))?;
    let writer = writer.or_else(|| match &p.console.load().writer {
        w @ ConsoleWriter::Custom(_) => Some(w.clone()),
        _ => None,
    });
    let snapshot = config.snapshot();
    p.console.store(Arc::new(ConsoleSettings::from_config(
        &config.logging,
        writer,
        snapshot.redactor.clone(),
    )));
    (p.console_filter)(console_filter).map_err(reload_err)?;
    crate::events::configure(&config.events);
    crate::runtime::changed();
    // The one redactor of this configuration: export, log export and metrics take it from
    // here (`redaction::current`) when export starts.
    snapshot.install();
    Ok(())
}

/// Phase one: installs the subscriber (if not yet) with console logging configured from
/// `config.logging`, and nothing else. Needs no async runtime; safe to call from an extension's
/// load hook. May be called again to change the console settings.
///
/// ```no_run
/// tasker_telemetry::init_logging(&tasker_telemetry::TelemetryConfig::default()).unwrap();
/// tracing::info!("console logging works");
/// ```
pub fn init_logging(config: &TelemetryConfig) -> Result<(), ConfigError> {
    let p = pipeline(config, None)?;
    apply_logging(p, config, None)?;
    let mut state = p.state.lock().unwrap_or_else(|e| e.into_inner());
    if !state.initialized {
        // Until init, the console's configuration is the one in force (shutdown_timeout,
        // the propagators, ...).
        crate::propagators::install(&config.propagators);
        state.config = Some(config.clone());
    }
    Ok(())
}

/// Installs the pipeline and starts export (when `config` has an endpoint and is enabled).
/// Returns a guard that flushes and shuts everything down when dropped.
///
/// Errors: an invalid filter, an exporter that cannot be built, a second call
/// ([`ConfigError::AlreadyInitialized`]), or a foreign global subscriber.
///
/// ```no_run
/// use tasker_telemetry::{init, TelemetryConfig};
///
/// let _guard = init(TelemetryConfig::load()?)?;
/// tracing::info_span!("work").in_scope(|| tracing::info!("inside"));
/// # Ok::<(), tasker_telemetry::ConfigError>(())
/// ```
pub fn init(config: TelemetryConfig) -> Result<TelemetryGuard, ConfigError> {
    init_with_writer(config, None)
}

/// Like [`init`], with the console writing to `writer` (tests, hosts with their own streams).
pub fn init_with_writer(
    config: TelemetryConfig,
    writer: Option<ConsoleWriter>,
) -> Result<TelemetryGuard, ConfigError> {
    let p = pipeline(&config, writer.clone())?;
    let mut state = p.state.lock().unwrap_or_else(|e| e.into_inner());
    if state.initialized {
        return Err(ConfigError::AlreadyInitialized {
            call: "tasker_telemetry::init()",
        });
    }
    apply_logging(p, &config, writer)?;
    start_export(p, &mut state, config, true)?;
    state.initialized = true;
    Ok(TelemetryGuard { done: false })
}

/// Starts export at a binding's load ([`crate::foreign::startup`]); an explicit start later
/// applies its configuration over this one ([`start_explicitly`]).
pub(crate) fn start_automatically(config: TelemetryConfig) -> Result<(), ConfigError> {
    let p = pipeline(&config, None)?;
    let mut state = p.state.lock().unwrap_or_else(|e| e.into_inner());
    if state.initialized {
        return Ok(());
    }
    apply_logging(p, &config, None)?;
    // A port in use only logs an error here: pre-fork servers without preload load the binding
    // in every worker, and only the first can bind.
    start_export(p, &mut state, config, false)?;
    state.initialized = true;
    state.automatic = true;
    Ok(())
}

/// A binding's explicit `init`: starts telemetry, or, after [`start_automatically`], restarts
/// export with `config`; the replaced exporters deliver what they hold (within the old
/// configuration's shutdown timeout) on a thread of their own, so nothing recorded before is
/// lost and the caller does not wait on the network. When `config` cannot start (an exporter
/// that cannot be built), what ran before goes on and the call may be retried. A second
/// explicit start is [`ConfigError::AlreadyInitialized`], a start after `shutdown`
/// [`ConfigError::ShutDown`], both naming `call`. The binding keeps no guard: its exit hook
/// flushes, and `shutdown` stops export.
pub(crate) fn start_explicitly(
    call: &'static str,
    config: TelemetryConfig,
) -> Result<(), ConfigError> {
    let p = pipeline(&config, None)?;
    let mut state = p.state.lock().unwrap_or_else(|e| e.into_inner());
    if state.shut_down {
        return Err(ConfigError::ShutDown { call });
    }
    if state.initialized && !state.automatic {
        return Err(ConfigError::AlreadyInitialized { call });
    }
    let previous = state.config.clone();
    let old = state.exporters.take();
    let started =
        apply_logging(p, &config, None).and_then(|()| start_export(p, &mut state, config, true));
    if let Err(e) = started {
        if let Some(previous) = previous {
            let _ = apply_logging(p, &previous, None);
            let _ = crate::probe_server::apply(&previous, true);
            if let Some(old) = old {
                install_exporters(p, &mut state, old, &previous, crate::redaction::current());
            }
            state.config = Some(previous);
        }
        return Err(e);
    }
    state.initialized = true;
    state.automatic = false;
    drop(state);
    if let Some(old) = old {
        let timeout = previous.map_or(DEFAULT_SHUTDOWN_TIMEOUT, |c| c.otlp.shutdown_timeout);
        retire(old, timeout);
    }
    Ok(())
}

/// Shuts down exporters that were replaced (delivering what they hold, at most `timeout`), off
/// the caller's thread. The next flush or shutdown waits for them first (within its own
/// timeout), so what they held is not lost when the process ends soon after `init`.
fn retire(old: Exporters, timeout: Duration) {
    let spawned = std::thread::Builder::new()
        .name("tasker-telemetry-retire".to_owned())
        .spawn(move || old.shutdown(timeout));
    if RETIRING_LOST_IN_FORK.load(std::sync::atomic::Ordering::Relaxed) {
        return;
    }
    if let Ok(handle) = spawned {
        RETIRING
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(handle);
    }
}

/// Threads shutting down replaced exporters (see [`retire`]).
static RETIRING: Mutex<Vec<std::thread::JoinHandle<Vec<String>>>> = Mutex::new(Vec::new());

/// Set in a fork child whose copy of [`RETIRING`] was locked at the fork (by a thread that does
/// not exist there): it is never touched again in that process.
static RETIRING_LOST_IN_FORK: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// Waits for the exporters being retired; their errors.
fn join_retiring() -> Vec<String> {
    if RETIRING_LOST_IN_FORK.load(std::sync::atomic::Ordering::Relaxed) {
        return Vec::new();
    }
    let handles = std::mem::take(&mut *RETIRING.lock().unwrap_or_else(|e| e.into_inner()));
    handles
        .into_iter()
        .flat_map(|h| h.join().unwrap_or_default())
        .collect()
}

/// `bind_failure_is_error`: whether the Prometheus server's port in use fails the start (an
/// explicit `init`) or is only logged ([`start_automatically`]); see [`crate::probe_server::apply`].
fn start_export(
    p: &Pipeline,
    state: &mut State,
    config: TelemetryConfig,
    bind_failure_is_error: bool,
) -> Result<(), ConfigError> {
    // Set by apply_logging, which has just run with this config.
    let redactor = crate::redaction::current();
    let trace_filter = env_filter("telemetry.logging.export_level", &trace_directives(&config))?;
    let logs_filter = env_filter("telemetry.logging.export_level", &logs_directives(&config))?;
    crate::propagators::install(&config.propagators);
    crate::health::configure(&config);
    if config.exports() || config.keeps_prometheus_metrics() {
        if state.exporters.is_none() && !state.initialized {
            stats::reset();
        }
        let exporters = export::build_exporters(&config, redactor.clone())?;
        // A port in use fails `init` here; the exporters just built are dropped.
        crate::probe_server::apply(&config, bind_failure_is_error)?;
        opentelemetry::global::set_tracer_provider(exporters.tracer_provider.clone());
        if let Some(mp) = &exporters.meter_provider {
            opentelemetry::global::set_meter_provider(mp.clone());
        }
        install_exporters(p, state, exporters, &config, redactor);
    } else {
        crate::probe_server::apply(&config, bind_failure_is_error)?;
        p.tracer
            .swap(export::local_tracer_provider(&config).tracer(export::SCOPE));
        crate::metrics::install(None, config.metrics.allow_correlation_labels, redactor);
        crate::exposition::install(None);
    }
    (p.trace_filter)(trace_filter).map_err(reload_err)?;
    (p.logs_filter)(logs_filter).map_err(reload_err)?;
    crate::sighup::install_if_wanted(&config);
    state.config = Some(config);
    crate::runtime::changed();
    Ok(())
}

/// Runs `change` on the configuration in force, under the pipeline's lock, and keeps what it
/// returns as the configuration in force ([`crate::runtime`]). `change` must not log (a layer
/// may read the configuration). [`ConfigError::NotInitialized`] before `init_logging`/`init`.
pub(crate) fn change_config<R>(
    call: &'static str,
    change: impl FnOnce(&TelemetryConfig) -> Result<(TelemetryConfig, R), ConfigError>,
) -> Result<R, ConfigError> {
    let p = PIPELINE.get().ok_or(ConfigError::NotInitialized { call })?;
    let mut state = p.state.lock().unwrap_or_else(|e| e.into_inner());
    let current = state
        .config
        .as_ref()
        .ok_or(ConfigError::NotInitialized { call })?;
    let (new, out) = change(current)?;
    state.config = Some(new);
    Ok(out)
}

/// Whether `config`'s console filter lets info lines through at all (its most verbose level).
pub(crate) fn console_shows_info(config: &TelemetryConfig) -> bool {
    env_filter("telemetry.logging.level", &console_directives(config))
        .ok()
        .and_then(|f| f.max_level_hint())
        .is_none_or(|l| l >= tracing::level_filters::LevelFilter::INFO)
}

/// Applies `config`'s console filter (`telemetry.logging.level`) to the running pipeline.
pub(crate) fn reload_console_filter(config: &TelemetryConfig) -> Result<(), ConfigError> {
    let filter = env_filter("telemetry.logging.level", &console_directives(config))?;
    match PIPELINE.get() {
        Some(p) => (p.console_filter)(filter).map_err(reload_err),
        None => Ok(()),
    }
}

/// Applies `config`'s export filters (`telemetry.logging.export_level`, for spans and exported
/// log events) to the running pipeline.
pub(crate) fn reload_export_filters(config: &TelemetryConfig) -> Result<(), ConfigError> {
    let trace = env_filter("telemetry.logging.export_level", &trace_directives(config))?;
    let logs = env_filter("telemetry.logging.export_level", &logs_directives(config))?;
    match PIPELINE.get() {
        Some(p) => {
            (p.trace_filter)(trace).map_err(reload_err)?;
            (p.logs_filter)(logs).map_err(reload_err)
        }
        None => Ok(()),
    }
}

/// Points the tracer, the metric registry and the log layer at freshly built exporters.
fn install_exporters(
    p: &Pipeline,
    state: &mut State,
    exporters: Exporters,
    config: &TelemetryConfig,
    redactor: Arc<Redactor>,
) {
    p.tracer.swap(exporters.tracer());
    let meter = exporters
        .meter_provider
        .as_ref()
        .map(crate::metrics::meter_from);
    crate::metrics::install(
        meter,
        config.metrics.allow_correlation_labels,
        redactor.clone(),
    );
    crate::exposition::install(exporters.prometheus.clone());
    p.log_redactor.store(redactor);
    p.logger.store(
        exporters
            .logger_provider
            .as_ref()
            .map(|lp| Arc::new(crate::logs::logger(lp))),
    );
    state.exporters = Some(exporters);
}

/// Whether [`init`] has run (and [`shutdown`] has not).
pub fn is_initialized() -> bool {
    PIPELINE
        .get()
        .and_then(|p| p.state.lock().ok().map(|s| s.initialized && !s.shut_down))
        .unwrap_or(false)
}

/// Whether spans currently leave the process (metrics kept only for Prometheus do not count).
pub fn is_exporting() -> bool {
    PIPELINE
        .get()
        .and_then(|p| {
            p.state.lock().ok().map(|s| {
                s.exporters.is_some() && s.config.as_ref().is_some_and(TelemetryConfig::exports)
            })
        })
        .unwrap_or(false)
}

/// The configuration given to [`init`].
pub fn current_config() -> Option<TelemetryConfig> {
    PIPELINE
        .get()
        .and_then(|p| p.state.lock().ok().and_then(|s| s.config.clone()))
}

/// The endpoint and request timeout of the running export, for messages.
fn export_target() -> String {
    current_config()
        .and_then(|c| {
            c.otlp.endpoint.clone().map(|e| {
                format!(
                    "the collector at {} (request timeout {}ms)",
                    crate::redaction::display_url(&e),
                    c.otlp.timeout.as_millis()
                )
            })
        })
        .unwrap_or_else(|| "the collector".to_owned())
}

/// A flush or shutdown running on its helper thread.
///
/// [`flush`] and [`shutdown`] wait for it in one go; a binding waits in slices
/// ([`Pending::wait`]) and checks its interpreter's signals and interrupts between them, so
/// Ctrl-C or `Thread#raise` is handled within one slice rather than at the end of the timeout.
/// Giving up on a `Pending` (dropping it) leaves the work to finish in the background, bounded
/// by the export timeouts.
#[derive(Debug)]
pub struct Pending {
    operation: &'static str,
    timeout: Duration,
    deadline: Instant,
    before: stats::ExportStats,
    work: Result<Option<mpsc::Receiver<Vec<String>>>, String>,
    on_done: Option<fn()>,
    /// Set once the waiter has run `on_done`; when a waiter gives up first (an interrupt), the
    /// helper thread runs it when the work ends instead.
    done_by_waiter: Arc<std::sync::atomic::AtomicBool>,
}

impl Pending {
    /// Nothing to wait for.
    fn done(operation: &'static str) -> Self {
        Self::start(operation, Duration::ZERO, None::<fn() -> Vec<String>>, None)
    }

    /// Runs `work` on a helper thread; `on_done` runs once the wait has ended.
    fn start(
        operation: &'static str,
        timeout: Duration,
        work: Option<impl FnOnce() -> Vec<String> + Send + 'static>,
        on_done: Option<fn()>,
    ) -> Self {
        let before = stats::export_stats();
        let done_by_waiter = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let work = match work {
            None => Ok(None),
            Some(work) => {
                let (tx, rx) = mpsc::channel();
                let done = done_by_waiter.clone();
                std::thread::Builder::new()
                    .name(format!("tasker-telemetry-{operation}"))
                    .spawn(move || {
                        let gone = tx.send(work()).is_err();
                        if gone && !done.load(std::sync::atomic::Ordering::Acquire) {
                            if let Some(on_done) = on_done {
                                on_done();
                            }
                        }
                    })
                    .map(|_| Some(rx))
                    .map_err(|e| format!("could not start a helper thread: {e}"))
            }
        };
        Self {
            operation,
            timeout,
            deadline: Instant::now() + timeout,
            before,
            work,
            on_done,
            done_by_waiter,
        }
    }

    /// Waits at most `slice` more. `None` while the work runs and its timeout has not passed;
    /// then the outcome: the error names what was not delivered (items still queued or in an
    /// export request, and items lost in export requests that failed meanwhile).
    pub fn wait(&mut self, slice: Duration) -> Option<Result<(), TelemetryError>> {
        let (timed_out, errors) = match &self.work {
            Ok(None) => (false, Vec::new()),
            Err(e) => (false, vec![e.clone()]),
            Ok(Some(rx)) => {
                let now = Instant::now();
                let last = self.deadline <= now + slice;
                match rx.recv_timeout(slice.min(self.deadline.saturating_duration_since(now))) {
                    Ok(errors) => (false, errors),
                    Err(mpsc::RecvTimeoutError::Timeout) if !last => return None,
                    Err(_) => (true, Vec::new()),
                }
            }
        };
        self.work = Ok(None);
        let outcome = self.outcome(timed_out, errors);
        if let Some(done) = self.on_done.take() {
            self.done_by_waiter
                .store(true, std::sync::atomic::Ordering::Release);
            done();
        }
        Some(outcome)
    }

    fn outcome(&self, timed_out: bool, errors: Vec<String>) -> Result<(), TelemetryError> {
        let after = stats::export_stats();
        let books = stats::describe(&self.before, &after, timed_out || !errors.is_empty());
        if !timed_out && errors.is_empty() && books.is_empty() {
            return Ok(());
        }
        let mut details = Vec::new();
        if timed_out {
            details.push(format!(
                "did not finish within {:?}; {} did not confirm delivery",
                self.timeout,
                export_target()
            ));
        }
        if !books.is_empty() {
            details.push(books);
        }
        if !errors.is_empty() {
            details.push(format!("exporter errors: {}", errors.join("; ")));
        }
        Err(TelemetryError::Export {
            operation: self.operation,
            details: details.join("; "),
        })
    }

    /// Waits for the outcome, however long the timeout is.
    fn finish(mut self) -> Result<(), TelemetryError> {
        loop {
            if let Some(outcome) = self.wait(self.timeout.max(Duration::from_millis(1))) {
                return outcome;
            }
        }
    }
}

/// Exports everything buffered now and waits for it (at most `timeout`). A no-op without export.
///
/// The error (`TelemetryError::Export`) says what was not delivered: spans, metric streams or
/// log records still queued or in an export request when the time ran out, and those lost in
/// export requests that failed (collector down or refusing).
pub fn flush(timeout: Duration) -> Result<(), TelemetryError> {
    start_flush(timeout).finish()
}

/// [`flush`], started: the caller waits for it with [`Pending::wait`].
pub fn start_flush(timeout: Duration) -> Pending {
    let Some(p) = PIPELINE.get() else {
        return Pending::done("flush");
    };
    let (tp, mp, lp) = {
        let state = p.state.lock().unwrap_or_else(|e| e.into_inner());
        match &state.exporters {
            Some(e) => (
                e.tracer_provider.clone(),
                e.meter_provider.clone(),
                e.logger_provider.clone(),
            ),
            None => return Pending::done("flush"),
        }
    };
    let work = move || {
        let mut errors = join_retiring();
        errors.extend(export::force_flush(&tp, mp.as_ref(), lp.as_ref()));
        errors
    };
    Pending::start("flush", timeout, Some(work), None)
}

/// A flush or shutdown timeout from seconds, as the bindings take it; an error naming the value
/// for a negative, infinite or NaN one.
///
/// ```
/// use std::time::{Duration, Instant};
/// assert_eq!(tasker_telemetry::timeout_from_secs(1.5).unwrap(), Duration::from_millis(1500));
/// assert!(tasker_telemetry::timeout_from_secs(f64::NAN).is_err());
/// ```
pub fn timeout_from_secs(secs: f64) -> Result<Duration, TelemetryError> {
    Duration::try_from_secs_f64(secs).map_err(|_| TelemetryError::InvalidDuration {
        what: "timeout",
        value: secs,
        unit: "seconds",
    })
}

/// The configured wait for delivery at exit (`telemetry.otlp.shutdown_timeout_ms`; 5 s before
/// `init`). The guard's drop and the Ruby and Python exit hooks use it.
pub fn shutdown_timeout() -> Duration {
    current_config()
        .map(|c| c.otlp.shutdown_timeout)
        .unwrap_or(DEFAULT_SHUTDOWN_TIMEOUT)
}

/// Flushes and stops every exporter (at most `timeout`). Idempotent. Console logging keeps
/// working; spans created afterwards are not exported (they are counted as dropped with reason
/// `shutdown`). Telemetry cannot be initialised again. The error names what was not delivered,
/// as for [`flush`].
pub fn shutdown(timeout: Duration) -> Result<(), TelemetryError> {
    start_shutdown(timeout).finish()
}

/// [`shutdown`], started: the caller waits for it with [`Pending::wait`].
pub fn start_shutdown(timeout: Duration) -> Pending {
    let Some(p) = PIPELINE.get() else {
        return Pending::done("shutdown");
    };
    // The last interval's suppressed events, while the exporters still run.
    crate::events::report();
    let exporters = {
        let mut state = p.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.shut_down {
            return Pending::done("shutdown");
        }
        state.shut_down = true;
        if let Some(config) = &state.config {
            p.tracer
                .swap(export::local_tracer_provider(config).tracer(export::SCOPE));
        }
        p.logger.store(None);
        crate::metrics::install(None, false, Arc::new(Redactor::default()));
        crate::exposition::install(None);
        crate::probe_server::stop();
        state.exporters.take()
    };
    let Some(exporters) = exporters else {
        return Pending::done("shutdown");
    };
    let work = move || {
        let mut errors = join_retiring();
        errors.extend(exporters.shutdown(timeout));
        errors
    };
    // Whatever is still queued or in flight then will not be delivered; later items are dropped.
    let close: fn() = || {
        stats::close();
    };
    Pending::start("shutdown", timeout, Some(work), Some(close))
}

/// Call in a process that is about to `fork()` (Ruby's `Process._fork`, Python's
/// `os.register_at_fork(before=...)`). It waits for nothing, so a fork costs the same with the
/// collector slow or down (pre-fork servers such as Resque fork once per job): what is queued
/// stays in the parent's queue and the parent's exporter delivers it after the fork; the child
/// abandons its copy of that memory in [`after_fork_in_child`], so nothing is exported twice.
pub fn before_fork() {}

/// Call in the child right after `fork()`: the exporter threads (and the gRPC runtime) did not
/// survive the fork, so the old exporters are abandoned (never joined: that would hang) and new
/// ones are built from the configuration given to [`init`]. A no-op when not exporting.
///
/// The Prometheus server (`OTEL_METRICS_EXPORTER=prometheus`) is not restarted in the child:
/// its port belongs to the parent. The child closes its copy of the listening socket and warns
/// once; its own metrics stay readable with [`crate::prometheus_text`].
pub fn after_fork_in_child() -> Result<(), ConfigError> {
    crate::stats::reset();
    // The summary thread did not survive the fork, and the events module's locks may have been
    // held at the fork by a thread that is gone: reset them first, before anything logs.
    crate::events::after_fork_in_child();
    // The Prometheus server's threads did not survive either; its port stays the parent's (this
    // warns, hence after the events reset).
    crate::probe_server::after_fork_in_child();
    // The SIGHUP thread did not survive the fork either.
    crate::sighup::after_fork_in_child();
    // Retiring threads did not survive the fork either: never join them. The lock may have been
    // held at the fork by a thread that is gone: then leave it alone for good.
    match RETIRING.try_lock() {
        Ok(mut handles) => std::mem::forget(std::mem::take(&mut *handles)),
        Err(std::sync::TryLockError::Poisoned(e)) => {
            std::mem::forget(std::mem::take(&mut *e.into_inner()))
        }
        Err(std::sync::TryLockError::WouldBlock) => {
            RETIRING_LOST_IN_FORK.store(true, std::sync::atomic::Ordering::Relaxed)
        }
    }
    let Some(p) = PIPELINE.get() else {
        return Ok(());
    };
    let mut state = p.state.lock().unwrap_or_else(|e| e.into_inner());
    let Some(old) = state.exporters.take() else {
        return Ok(());
    };
    std::mem::forget(old);
    // The child is a new service instance: its resource gets a new `service.instance.id`.
    crate::resource::renew_instance_id();
    let Some(config) = state.config.clone() else {
        return Ok(());
    };
    if state.shut_down {
        return Ok(());
    }
    let redactor = crate::redaction::current();
    let exporters = export::build_exporters(&config, redactor.clone())?;
    install_exporters(p, &mut state, exporters, &config, redactor);
    Ok(())
}

/// Keeps telemetry running; dropping it flushes and shuts down every exporter, waiting at most
/// `telemetry.otlp.shutdown_timeout_ms` ([`shutdown_timeout`]); what could not be delivered is
/// printed on stderr.
#[must_use = "dropping the guard shuts telemetry down"]
#[derive(Debug)]
pub struct TelemetryGuard {
    done: bool,
}

impl TelemetryGuard {
    /// Flushes buffered telemetry without shutting down.
    pub fn flush(&self, timeout: Duration) -> Result<(), TelemetryError> {
        flush(timeout)
    }

    /// Shuts down now and reports what failed.
    pub fn shutdown(mut self, timeout: Duration) -> Result<(), TelemetryError> {
        self.done = true;
        shutdown(timeout)
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if !self.done {
            if let Err(e) = shutdown(shutdown_timeout()) {
                eprintln!("tasker-telemetry: {e}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The slow-operation layer's filters are rebuilt from the printed form of the console and
    /// trace filters ([`reload_pair`]): it must parse back to the same filter.
    #[test]
    fn filters_print_in_a_form_that_parses_back() {
        let mut config = TelemetryConfig::default();
        for level in [
            "info",
            "warn,my_crate=debug",
            "off",
            "trace,h2=off,tonic[span]=info",
        ] {
            config.logging.level = level.to_owned();
            config.logging.export_level = level.to_owned();
            for d in [console_directives(&config), trace_directives(&config)] {
                let printed = EnvFilter::builder().parse(&d).unwrap().to_string();
                let again = EnvFilter::builder().parse(&printed).unwrap().to_string();
                assert_eq!(printed, again, "{d}");
            }
        }
    }
}
