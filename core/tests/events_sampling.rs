//! Sampling, rate limits and filtered names of log events through the global pipeline (one
//! process, so one file): what reaches the console, what is counted, the summary line, and the
//! span-event copy. The tests share the pipeline, so they run one at a time and each sets the
//! rules it needs through the runtime API.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use tasker_telemetry::config::LogFormat;
use tasker_telemetry::dynamic::{self, EventArgs, Parent};
use tasker_telemetry::events::{self, Suppressed};
use tasker_telemetry::fields::Fields;
use tasker_telemetry::{runtime, ConsoleWriter, TelemetryConfig};
use tracing::Level;

#[path = "common/sink.rs"]
mod sink;
use sink::Sink;

/// Lines of the test's own events (not the core's summary and change lines).
fn own(lines: &[serde_json::Value]) -> Vec<&serde_json::Value> {
    lines
        .iter()
        .filter(|l| {
            let t = l["target"].as_str().unwrap_or("");
            t != events::TARGET && t != runtime::TARGET
        })
        .collect()
}

fn messages(lines: &[serde_json::Value]) -> Vec<String> {
    own(lines)
        .iter()
        .map(|l| l["message"].as_str().unwrap().to_owned())
        .collect()
}

static SINK: OnceLock<Sink> = OnceLock::new();
static SERIAL: Mutex<()> = Mutex::new(());

/// Initialises once (JSON to a sink, a long summary interval), takes the test lock, resets the
/// rules to none and empties the sink.
fn setup() -> (MutexGuard<'static, ()>, Sink) {
    let sink = SINK
        .get_or_init(|| {
            let sink = Sink::default();
            let mut config = TelemetryConfig::default();
            config.logging.format = LogFormat::Json;
            config.logging.level = "debug".into();
            config.events.summary_interval = Duration::from_secs(3600);
            let writer: Arc<Mutex<dyn Write + Send>> = Arc::new(Mutex::new(sink.clone()));
            std::mem::forget(
                tasker_telemetry::init_with_writer(config, Some(ConsoleWriter::Custom(writer)))
                    .unwrap(),
            );
            sink
        })
        .clone();
    let guard = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    runtime::set_event_sampling(1.0, &BTreeMap::new()).unwrap();
    runtime::set_rate_limit(0.0, None).unwrap();
    runtime::set_filtered_events(&[]).unwrap();
    runtime::set("events.exempt_level", &"error".into()).unwrap();
    runtime::set("events.summary_interval_ms", &3_600_000i64.into()).unwrap();
    events::report();
    sink.take();
    (guard, sink)
}

fn delta(before: Suppressed) -> Suppressed {
    let now = events::suppressed();
    Suppressed {
        sampled: now.sampled - before.sampled,
        rate_limited: now.rate_limited - before.rate_limited,
        filtered: now.filtered - before.filtered,
    }
}

fn foreign(level: Level, target: &str, message: &str) {
    dynamic::event(EventArgs {
        level,
        target,
        message,
        fields: &Fields::new(),
        parent: Parent::Current,
        correlation: None,
    });
}

#[test]
fn rate_zero_drops_every_event_but_errors_and_counts_them() {
    let (_g, sink) = setup();
    runtime::set_event_sampling(0.0, &BTreeMap::new()).unwrap();
    let before = events::suppressed();
    for i in 0..100 {
        tracing::info!(i, "routine");
        foreign(Level::WARN, "python.worker", "foreign routine");
    }
    for i in 0..5 {
        tracing::error!(i, "broken");
        foreign(Level::ERROR, "ruby.worker", "foreign broken");
    }
    let lines = sink.take();
    let got = messages(&lines);
    assert_eq!(got.len(), 10, "{got:?}");
    assert!(
        got.iter().all(|m| m == "broken" || m == "foreign broken"),
        "{got:?}"
    );
    assert_eq!(
        delta(before),
        Suppressed {
            sampled: 200,
            rate_limited: 0,
            filtered: 0
        }
    );

    // With no level exempt, errors go too.
    runtime::set("events.exempt_level", &"off".into()).unwrap();
    tracing::error!("also dropped");
    assert!(messages(&sink.take()).is_empty());
    assert_eq!(delta(before).sampled, 201);
}

#[test]
fn half_rate_keeps_about_half() {
    let (_g, sink) = setup();
    runtime::set_event_sampling(0.5, &BTreeMap::new()).unwrap();
    let before = events::suppressed();
    for i in 0..10_000 {
        tracing::info!(i, "coin");
    }
    let kept = messages(&sink.take()).len() as u64;
    // Binomial(10000, 0.5): standard deviation 50; 300 is six of them.
    assert!((4_700..=5_300).contains(&kept), "kept {kept}");
    assert_eq!(kept + delta(before).sampled, 10_000);
}

#[test]
fn rates_per_name_and_target_win_over_the_default() {
    let (_g, sink) = setup();
    let rates = [
        ("payments".to_owned(), 0.0),
        ("heartbeat".to_owned(), 0.0),
        ("payments::refund".to_owned(), 1.0),
    ]
    .into_iter()
    .collect();
    runtime::set_event_sampling(1.0, &rates).unwrap();
    tracing::info!(target: "payments::charge", "charged");
    tracing::info!(target: "payments::refund", "refunded");
    tracing::info!(target: "payments", "payments itself");
    tracing::info!(target: "payments_v2", "another target");
    tracing::info!("heartbeat");
    tracing::info!(event = "heartbeat", "named by its event field");
    foreign(Level::INFO, "python.app", "heartbeat");
    foreign(Level::INFO, "payments.gateway", "python payments");
    tracing::info!("kept");
    assert_eq!(
        messages(&sink.take()),
        ["refunded", "another target", "kept"]
    );
}

#[test]
fn filtered_names_and_targets_are_always_dropped_and_counted() {
    let (_g, sink) = setup();
    runtime::set_filtered_events(&["noisy".to_owned(), "chatty.module".to_owned()]).unwrap();
    let before = events::suppressed();
    tracing::info!("noisy");
    tracing::warn!(event = "noisy", "a message of its own");
    tracing::info!(target: "chatty.module.sub", "from below the filtered target");
    foreign(Level::INFO, "chatty.module", "python chatter");
    foreign(Level::INFO, "python.app", "noisy");
    tracing::info!("quiet");
    foreign(Level::INFO, "chatty.modules", "a different target");
    tracing::error!("noisy"); // exempt: error
    assert_eq!(
        messages(&sink.take()),
        ["quiet", "a different target", "noisy"]
    );
    assert_eq!(delta(before).filtered, 5);
}

#[test]
fn the_token_bucket_allows_a_burst_then_limits_each_callsite() {
    let (_g, sink) = setup();
    runtime::set_rate_limit(1.0, Some(5)).unwrap();
    let before = events::suppressed();
    // One callsite, so one bucket.
    let hot_loop = |i: usize| tracing::info!(i, "hot loop");
    for i in 0..50 {
        hot_loop(i);
    }
    for i in 0..3 {
        tracing::info!(i, "another callsite");
    }
    for _ in 0..20 {
        foreign(Level::INFO, "python.hot", "foreign hot loop");
    }
    tracing::error!("errors are exempt");
    let got = messages(&sink.take());
    let hot = got.iter().filter(|m| *m == "hot loop").count();
    let foreign_hot = got.iter().filter(|m| *m == "foreign hot loop").count();
    // The burst, plus at most one token refilled if a second passed meanwhile.
    assert!((5..=6).contains(&hot), "{got:?}");
    assert!((5..=6).contains(&foreign_hot), "{got:?}");
    assert_eq!(got.iter().filter(|m| *m == "another callsite").count(), 3);
    assert!(got.contains(&"errors are exempt".to_owned()));
    assert_eq!(
        delta(before).rate_limited,
        (50 - hot + 20 - foreign_hot) as u64
    );
    // Tokens come back at the rate.
    std::thread::sleep(Duration::from_millis(1100));
    for i in 0..3 {
        hot_loop(i);
    }
    let got = messages(&sink.take());
    assert_eq!(got.len(), 1, "one token per second: {got:?}");
}

#[test]
fn one_summary_line_per_interval_with_the_count() {
    let (_g, sink) = setup();
    runtime::set_rate_limit(1.0, Some(1)).unwrap();
    runtime::set_event_sampling(
        1.0,
        &[("sampled.target".to_owned(), 0.0)].into_iter().collect(),
    )
    .unwrap();
    for i in 0..1_235 {
        tracing::info!(target: "payments::charge", i, "charge retried");
    }
    for _ in 0..34 {
        tracing::warn!(target: "sampled.target", "sampled away");
    }
    runtime::set("events.summary_interval_ms", &300i64.into()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    let summary = loop {
        let lines = sink.take();
        if let Some(l) = lines.iter().find(|l| l["target"] == events::TARGET) {
            break l.clone();
        }
        assert!(Instant::now() < deadline, "no summary line");
        std::thread::sleep(Duration::from_millis(50));
    };
    let message = summary["message"].as_str().unwrap();
    assert!(
        message.starts_with("1,268 log events suppressed in the last "),
        "{message}"
    );
    assert!(
        message
            .contains("(sampled: 34 on sampled.target; rate_limited: 1,234 on payments::charge)"),
        "{message}"
    );
    // A warn event was among them: the line is a warning.
    assert_eq!(summary["level"], "WARN", "{summary}");
    assert_eq!(summary["fields"]["suppressed"], 1268);
    assert_eq!(summary["fields"]["rate_limited"], 1234);

    // Nothing suppressed since: no further line.
    std::thread::sleep(Duration::from_millis(800));
    let lines = sink.take();
    assert!(
        lines.iter().all(|l| l["target"] != events::TARGET),
        "{lines:?}"
    );

    // The summary line itself is never suppressed nor counted, even with everything sampled
    // away and info events only.
    runtime::set_rate_limit(0.0, None).unwrap();
    runtime::set_event_sampling(0.0, &BTreeMap::new()).unwrap();
    let before = events::suppressed();
    tracing::info!("gone");
    std::thread::sleep(Duration::from_millis(800));
    let lines = sink.take();
    let summaries: Vec<_> = lines
        .iter()
        .filter(|l| l["target"] == events::TARGET)
        .collect();
    assert_eq!(summaries.len(), 1, "{lines:?}");
    assert_eq!(summaries[0]["level"], "INFO");
    assert!(summaries[0]["message"]
        .as_str()
        .unwrap()
        .starts_with("1 log events suppressed"));
    assert_eq!(delta(before).sampled, 1);
}

#[test]
fn suppressed_events_are_not_copied_to_spans_either() {
    let (_g, _sink) = setup();
    runtime::set_event_sampling(0.0, &BTreeMap::new()).unwrap();
    let cap = tasker_telemetry::testing::capture(&TelemetryConfig::default());
    cap.run(|| {
        let span = tracing::info_span!("work");
        let _e = span.enter();
        tracing::info!("sampled away");
        foreign(Level::INFO, "python.app", "foreign sampled away");
        tracing::error!("kept");
    });
    let span = cap.span("work").unwrap();
    let names: Vec<&str> = span.events.iter().map(|e| e.name.as_ref()).collect();
    assert_eq!(names, ["kept"]);
    let console: Vec<String> = cap.lines();
    assert_eq!(console.len(), 1, "{console:?}");
}

#[test]
fn a_bad_rate_is_refused_naming_the_key_and_changes_nothing() {
    let (_g, sink) = setup();
    let err = runtime::set_event_sampling(1.5, &BTreeMap::new())
        .unwrap_err()
        .to_string();
    assert!(err.contains("telemetry.events.sample_rate"), "{err}");
    assert!(err.contains("0.0 to 1.0"), "{err}");
    let err = runtime::set_event_sampling(1.0, &[("x".to_owned(), -1.0)].into_iter().collect())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("telemetry.events.sampling") && err.contains("`x`"),
        "{err}"
    );
    tracing::info!("still printed");
    assert_eq!(messages(&sink.take()), ["still printed"]);
}
