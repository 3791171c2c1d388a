//! The global pipeline's life cycle: console first (no runtime), then init, a second init,
//! level checks that follow re-configuration, shutdown twice. One process, so one file.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tasker_telemetry::config::LogFormat;
use tasker_telemetry::dynamic::{self, DynSpan, Parent, SpanStart};
use tasker_telemetry::fields::Fields;
use tasker_telemetry::{ConfigError, ConsoleWriter, TelemetryConfig};
use tracing::Level;

#[derive(Clone, Default)]
struct Sink(Arc<Mutex<Vec<u8>>>);
impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn console_then_init_then_second_init_then_shutdown() {
    // Phase one: console logging, no runtime anywhere, export filter at its default.
    let mut config = TelemetryConfig::default();
    config.logging.level = "warn".into();
    config.logging.export_level = "warn".into();
    tasker_telemetry::init_logging(&config).unwrap();
    assert!(dynamic::enabled(Level::WARN, "ruby"));
    assert!(
        !dynamic::enabled(Level::DEBUG, "ruby"),
        "debug is below both filters"
    );
    let span = DynSpan::start(SpanStart {
        name: "quiet",
        level: Level::DEBUG,
        target: "ruby",
        fields: &Fields::new(),
        parent: Parent::Current,
        correlation: None,
    });
    assert!(span.is_disabled());
    assert!(!tasker_telemetry::is_initialized());

    // Phase two: JSON to a sink, debug on the console; the same callsites now pass.
    let sink = Sink::default();
    let mut config = TelemetryConfig::default();
    config.logging.format = LogFormat::Json;
    config.logging.level = "debug".into();
    config.spans.max_dynamic_callsites = 3;
    let writer: Arc<Mutex<dyn Write + Send>> = Arc::new(Mutex::new(sink.clone()));
    let guard =
        tasker_telemetry::init_with_writer(config.clone(), Some(ConsoleWriter::Custom(writer)))
            .unwrap();
    assert!(tasker_telemetry::is_initialized());
    assert!(
        dynamic::enabled(Level::DEBUG, "ruby"),
        "re-configuration rebuilds interest"
    );
    tracing::debug!(target: "ruby", "now visible");

    // Past the callsite bound, shapes share a fallback callsite and keep their fields.
    for i in 0..5 {
        let fields: Fields = [(format!("field_{i}"), format!("value_{i}"))]
            .into_iter()
            .collect();
        dynamic::event(dynamic::EventArgs {
            level: Level::INFO,
            target: "ruby",
            message: "shape",
            fields: &fields,
            parent: Parent::Current,
            correlation: None,
        });
    }
    assert!(dynamic::interned_callsites() <= 3);

    let err = tasker_telemetry::init(config).unwrap_err();
    assert!(
        matches!(err, ConfigError::AlreadyInitialized { .. }),
        "{err}"
    );
    assert!(err
        .to_string()
        .contains("tasker_telemetry::init() was already called"));

    guard.shutdown(Duration::from_secs(2)).unwrap();
    tasker_telemetry::shutdown(Duration::from_secs(2)).unwrap();
    assert!(!tasker_telemetry::is_initialized());
    tracing::warn!(target: "ruby", "console still works after shutdown");

    let out = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(lines.iter().any(|l| l["message"] == "now visible"));
    let shapes: Vec<_> = lines.iter().filter(|l| l["message"] == "shape").collect();
    assert_eq!(shapes.len(), 5, "{out}");
    for (i, l) in shapes.iter().enumerate() {
        let text = l.to_string();
        assert!(
            text.contains(&format!("value_{i}")),
            "fields survive the fallback: {text}"
        );
    }
    assert!(lines
        .iter()
        .any(|l| l["message"] == "console still works after shutdown"));
}
