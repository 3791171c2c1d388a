//! The slow-operation check on every span (Rust and foreign), its thresholds and overrides, the
//! `monitor` guard with its memory spike, and the settings. Its own process: the thresholds and
//! the metric registry are global, so the tests take turns (`LOCK`).

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
use serde_json::Value;
use tasker_telemetry::config::LogFormat;
use tasker_telemetry::dynamic::{DynSpan, Parent, SpanStart};
use tasker_telemetry::fields::Fields;
use tasker_telemetry::monitor::{self, Monitor};
use tasker_telemetry::slow_operations;
use tasker_telemetry::testing::{self, Capture};
use tasker_telemetry::{Correlation, TelemetryConfig};

static LOCK: Mutex<()> = Mutex::new(());

struct Setup {
    capture: Capture,
    exporter: InMemoryMetricExporter,
    provider: SdkMeterProvider,
    _turn: MutexGuard<'static, ()>,
}

/// A JSON-console capture and an in-memory meter, with the default threshold `threshold_ms`.
fn setup(threshold_ms: u64) -> Setup {
    let turn = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let mut config = TelemetryConfig::default();
    config.logging.format = LogFormat::Json;
    config.slow_operations.threshold_ms = threshold_ms;
    let exporter = InMemoryMetricExporter::default();
    let provider = SdkMeterProvider::builder()
        .with_reader(PeriodicReader::builder(exporter.clone()).build())
        .build();
    // Installs the meter and the configuration's thresholds, as init does.
    testing::install_meter(&config, &provider);
    Setup {
        capture: testing::capture(&config),
        exporter,
        provider,
        _turn: turn,
    }
}

impl Setup {
    /// The console lines of the `event` (`slow_operation`, `memory_spike`) events.
    fn events(&self, event: &str) -> Vec<Value> {
        self.capture
            .json_lines()
            .into_iter()
            .filter(|l| {
                l["target"] == slow_operations::TARGET
                    && l["message"]
                        .as_str()
                        .is_some_and(|m| m.starts_with(&format!("{event}: ")))
            })
            .collect()
    }

    /// The value of the counter `name` for `operation` (0 when never counted).
    fn counted(&self, name: &str, operation: &str) -> f64 {
        self.provider.force_flush().unwrap();
        let exported = self.exporter.get_finished_metrics().unwrap();
        let Some(metric) = exported
            .iter()
            .flat_map(|rm| rm.scope_metrics())
            .flat_map(|sm| sm.metrics())
            .filter(|m| m.name() == name)
            .last()
        else {
            return 0.0;
        };
        let AggregatedMetrics::F64(MetricData::Sum(sum)) = metric.data() else {
            panic!("{name} is a sum")
        };
        sum.data_points()
            .filter(|p| {
                p.attributes()
                    .any(|kv| kv.key.as_str() == "operation" && kv.value.as_str() == operation)
            })
            .map(|p| p.value())
            .sum()
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        let _ = self.provider.shutdown();
        slow_operations::configure(&Default::default());
    }
}

fn sleeping_span(name: &'static str, ms: u64) {
    match name {
        "import_batch" => tracing::info_span!("import_batch")
            .in_scope(|| std::thread::sleep(Duration::from_millis(ms))),
        "quick_lookup" => tracing::info_span!("quick_lookup")
            .in_scope(|| std::thread::sleep(Duration::from_millis(ms))),
        other => panic!("no span {other}"),
    }
}

#[test]
fn a_span_over_its_threshold_emits_one_slow_operation_warning_and_counts() {
    let s = setup(5);
    let correlation = Correlation::new();
    let id = correlation.correlation_id.to_string();
    s.capture
        .run(|| correlation.in_scope(|| sleeping_span("import_batch", 30)));

    let events = s.events("slow_operation");
    assert_eq!(events.len(), 1, "{:#?}", s.capture.lines());
    let e = &events[0];
    assert_eq!(e["level"], "WARN");
    assert_eq!(e["fields"]["operation"], "import_batch");
    assert_eq!(e["fields"]["threshold_ms"], 5);
    // Measured with the coarse clock: to within one scheduler tick (at most 4 ms here).
    let duration = e["fields"]["duration_ms"].as_f64().unwrap();
    assert!((25.0..5000.0).contains(&duration), "{duration}");
    assert_eq!(e["fields"]["correlation_id"], id.as_str());
    assert_eq!(
        s.counted("tasker_slow_operations_total", "import_batch"),
        1.0
    );
}

#[test]
fn a_span_under_its_threshold_emits_nothing() {
    let s = setup(10_000);
    s.capture.run(|| sleeping_span("import_batch", 20));
    assert!(s.events("slow_operation").is_empty());
    assert_eq!(
        s.counted("tasker_slow_operations_total", "import_batch"),
        0.0
    );
}

#[test]
fn overrides_set_the_threshold_of_one_span_name() {
    let s = setup(10_000);
    slow_operations::set_override("import_batch", Some(5));
    s.capture.run(|| {
        sleeping_span("import_batch", 20);
        sleeping_span("quick_lookup", 20);
    });
    let events = s.events("slow_operation");
    assert_eq!(events.len(), 1, "{events:#?}");
    assert_eq!(events[0]["fields"]["operation"], "import_batch");
    assert_eq!(events[0]["fields"]["threshold_ms"], 5);

    // An override of 0 turns the check off for that name only.
    slow_operations::set_threshold_ms(5);
    slow_operations::set_override("import_batch", Some(0));
    s.capture.run(|| {
        sleeping_span("import_batch", 20);
        sleeping_span("quick_lookup", 20);
    });
    let events = s.events("slow_operation");
    assert_eq!(events.len(), 2, "{events:#?}");
    assert_eq!(events[1]["fields"]["operation"], "quick_lookup");
}

#[test]
fn a_threshold_of_zero_disables_the_check() {
    let s = setup(0);
    s.capture.run(|| sleeping_span("import_batch", 20));
    assert!(s.events("slow_operation").is_empty());
    assert_eq!(slow_operations::threshold_ms(), 0);
}

#[test]
fn a_foreign_span_is_checked_with_the_correlation_it_was_given() {
    let s = setup(5);
    let correlation = Arc::new(Correlation::new());
    let fields = Fields::default();
    s.capture.run(|| {
        let span = DynSpan::start(SpanStart {
            name: "ruby_handler",
            level: tracing::Level::INFO,
            target: "ruby",
            fields: &fields,
            parent: Parent::Root,
            correlation: Some(&correlation),
        });
        std::thread::sleep(Duration::from_millis(20));
        span.end();
    });
    let events = s.events("slow_operation");
    assert_eq!(events.len(), 1, "{events:#?}");
    assert_eq!(events[0]["fields"]["operation"], "ruby_handler");
    assert_eq!(
        events[0]["fields"]["correlation_id"],
        correlation.correlation_id.to_string().as_str()
    );
    assert_eq!(
        s.counted("tasker_slow_operations_total", "ruby_handler"),
        1.0
    );
}

#[test]
fn nested_slow_spans_are_reported_once_each() {
    let s = setup(5);
    s.capture.run(|| {
        tracing::info_span!("outer_op").in_scope(|| {
            tracing::info_span!("inner_op")
                .in_scope(|| std::thread::sleep(Duration::from_millis(20)))
        })
    });
    let ops: Vec<_> = s
        .events("slow_operation")
        .iter()
        .map(|e| e["fields"]["operation"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ops, ["inner_op", "outer_op"]);
}

#[test]
fn spans_below_every_filter_stay_disabled() {
    // The check's layer must not enable spans that no output records.
    let s = setup(5);
    s.capture.run(|| {
        let span = tracing::debug_span!("below_the_filters");
        assert!(span.is_disabled());
        assert!(!tracing::info_span!("recorded").is_disabled());
    });
}

#[test]
fn a_monitor_reports_a_memory_spike_and_a_slow_operation() {
    let s = setup(5);
    slow_operations::set_memory_threshold_mb(1);
    let correlation = Correlation::new();
    let id = correlation.correlation_id.to_string();
    let report = s.capture.run(|| {
        correlation.in_scope(|| {
            let m = Monitor::start("import_batch");
            // 32 MiB, every page touched so that it is resident.
            let mut block = vec![0u8; 32 << 20];
            for i in (0..block.len()).step_by(4096) {
                block[i] = 1;
            }
            std::thread::sleep(Duration::from_millis(10));
            let report = m.finish();
            std::hint::black_box(&block);
            report
        })
    });
    if cfg!(target_os = "linux") {
        let delta = report.memory_delta_bytes.unwrap();
        assert!(delta > 16 << 20, "{report:?}");
        assert!(report.memory_spike);
        let spikes = s.events("memory_spike");
        assert_eq!(spikes.len(), 1, "{:#?}", s.capture.lines());
        assert_eq!(spikes[0]["level"], "WARN");
        assert_eq!(spikes[0]["fields"]["operation"], "import_batch");
        assert_eq!(spikes[0]["fields"]["threshold_mb"], 1);
        assert!(spikes[0]["fields"]["memory_delta_mb"].as_f64().unwrap() > 16.0);
        assert_eq!(spikes[0]["fields"]["correlation_id"], id.as_str());
        assert_eq!(s.counted("tasker_memory_spikes_total", "import_batch"), 1.0);
    } else {
        assert_eq!(report.memory_delta_bytes, None);
    }
    assert!(report.slow && report.duration_ms >= 10.0, "{report:?}");
    let slow = s.events("slow_operation");
    assert_eq!(slow.len(), 1);
    assert_eq!(slow[0]["fields"]["operation"], "import_batch");
    assert_eq!(
        s.counted("tasker_slow_operations_total", "import_batch"),
        1.0
    );
}

#[test]
fn a_monitor_under_its_thresholds_reports_nothing_and_records_its_duration() {
    let s = setup(10_000);
    let value = s.capture.run(|| monitor::run("quick_lookup", || 42));
    assert_eq!(value, 42);
    {
        let _guard = s.capture.run(|| monitor::start("guarded"));
    }
    assert!(s.events("slow_operation").is_empty());
    assert!(s.events("memory_spike").is_empty());
    s.provider.force_flush().unwrap();
    let exported = s.exporter.get_finished_metrics().unwrap();
    let histogram = exported
        .iter()
        .flat_map(|rm| rm.scope_metrics())
        .flat_map(|sm| sm.metrics())
        .find(|m| m.name() == "tasker_monitored_operation_duration")
        .expect("the duration histogram");
    assert_eq!(histogram.unit(), "ms");
    let AggregatedMetrics::F64(MetricData::Histogram(h)) = histogram.data() else {
        panic!("a histogram")
    };
    let operations: Vec<String> = h
        .data_points()
        .flat_map(|p| {
            p.attributes()
                .filter(|kv| kv.key.as_str() == "operation")
                .map(|kv| kv.value.to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(
        operations.contains(&"quick_lookup".to_owned()),
        "{operations:?}"
    );
    assert!(operations.contains(&"guarded".to_owned()), "{operations:?}");
}

#[test]
fn settings_come_from_files_and_variables_and_name_the_key_when_wrong() {
    use std::collections::BTreeMap;
    let config = TelemetryConfig::from_toml_str(
        r#"
        [telemetry.slow_operations]
        threshold_ms = 250
        memory_threshold_mb = 64
        overrides = { execute_step = 5000, "http.request" = 0 }
        [telemetry.metrics]
        process_metrics = false
        "#,
    )
    .unwrap();
    assert_eq!(config.slow_operations.threshold_ms, 250);
    assert_eq!(config.slow_operations.memory_threshold_mb, 64);
    assert_eq!(
        config.slow_operations.overrides,
        BTreeMap::from([
            ("execute_step".to_owned(), 5000),
            ("http.request".to_owned(), 0)
        ])
    );
    assert!(!config.metrics.process_metrics);

    let env = BTreeMap::from([
        ("TASKER_SLOW_THRESHOLD_MS".to_owned(), "0".to_owned()),
        (
            "TASKER_SLOW_THRESHOLD_OVERRIDES".to_owned(),
            "execute_step=5000, import_batch=200".to_owned(),
        ),
        ("TASKER_MEMORY_THRESHOLD_MB".to_owned(), "10".to_owned()),
        ("TASKER_PROCESS_METRICS".to_owned(), "false".to_owned()),
    ]);
    let config = TelemetryConfig::load_from(None, &env).unwrap();
    assert_eq!(config.slow_operations.threshold_ms, 0);
    assert_eq!(config.slow_operations.overrides["import_batch"], 200);
    assert_eq!(config.slow_operations.overrides["execute_step"], 5000);
    assert_eq!(config.slow_operations.memory_threshold_mb, 10);
    assert!(!config.metrics.process_metrics);

    let defaults = TelemetryConfig::default();
    assert_eq!(defaults.slow_operations.threshold_ms, 1000);
    assert_eq!(defaults.slow_operations.memory_threshold_mb, 100);
    assert!(defaults.metrics.process_metrics);

    for (var, value, key) in [
        (
            "TASKER_SLOW_THRESHOLD_OVERRIDES",
            "execute_step",
            "telemetry.slow_operations.overrides",
        ),
        (
            "TASKER_SLOW_THRESHOLD_OVERRIDES",
            "execute_step=soon",
            "telemetry.slow_operations.overrides",
        ),
        (
            "TASKER_SLOW_THRESHOLD_MS",
            "-1",
            "telemetry.slow_operations.threshold_ms",
        ),
    ] {
        let env = BTreeMap::from([(var.to_owned(), value.to_owned())]);
        let err = TelemetryConfig::load_from(None, &env)
            .unwrap_err()
            .to_string();
        assert!(err.contains(key) && err.contains(var), "{err}");
    }
    let err = TelemetryConfig::from_toml_str(
        "[telemetry.slow_operations]\noverrides = { execute_step = \"slow\" }",
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("telemetry.slow_operations.overrides"), "{err}");
}
