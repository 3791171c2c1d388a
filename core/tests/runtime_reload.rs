//! Changes at run time through the global pipeline (one process, so one file): `set_level`
//! while another thread logs, refused values, keys that cannot change, and `SIGHUP` reloading
//! the configuration file (a good file, then a bad one). The tests share the pipeline and the
//! file, so they run one at a time.

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use tasker_telemetry::{runtime, ConfigError, ConsoleWriter, TelemetryConfig};

#[path = "common/sink.rs"]
mod sink;
use sink::{clear_env, Sink};

struct Setup {
    sink: Sink,
    file: PathBuf,
}

static SETUP: OnceLock<Setup> = OnceLock::new();
static SERIAL: Mutex<()> = Mutex::new(());

fn write_config(file: &PathBuf, level: &str, extra: &str) {
    std::fs::write(
        file,
        format!(
            "[telemetry]\nservice_name = \"reload-test\"\n{extra}\n[telemetry.logging]\nformat = \"json\"\nlevel = \"{level}\"\n"
        ),
    )
    .unwrap();
}

/// Initialises once from a configuration file (console at info, JSON, to a sink), takes the
/// test lock and puts the file and the level back to info.
fn setup() -> (MutexGuard<'static, ()>, &'static Setup) {
    let setup = SETUP.get_or_init(|| {
        clear_env();
        let dir = std::env::temp_dir().join(format!("tasker-reload-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("telemetry.toml");
        write_config(&file, "info", "");
        let config = TelemetryConfig::load_from(
            Some(&file),
            &std::collections::BTreeMap::<String, String>::new(),
        )
        .unwrap();
        assert_eq!(config.config_file.as_deref(), Some(file.as_path()));
        let sink = Sink::default();
        let writer: Arc<Mutex<dyn Write + Send>> = Arc::new(Mutex::new(sink.clone()));
        std::mem::forget(
            tasker_telemetry::init_with_writer(config, Some(ConsoleWriter::Custom(writer)))
                .unwrap(),
        );
        Setup { sink, file }
    });
    let guard = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    write_config(&setup.file, "info", "");
    runtime::set_level("info").unwrap();
    setup.sink.take();
    (guard, setup)
}

fn changes_lines(lines: &[serde_json::Value]) -> Vec<String> {
    lines
        .iter()
        .filter(|l| l["target"] == runtime::TARGET)
        .map(|l| {
            format!(
                "{} {}",
                l["level"].as_str().unwrap(),
                l["message"].as_str().unwrap()
            )
        })
        .collect()
}

#[test]
fn set_level_at_run_time_shows_debug_and_loses_no_event_around_the_change() {
    let (_g, s) = setup();
    assert!(!tracing::enabled!(tracing::Level::DEBUG));
    let generation = runtime::generation();
    let index_before = tasker_telemetry::dynamic::max_level_index();

    let stop = Arc::new(AtomicBool::new(false));
    let emitter = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) || n < 2_000 {
                tracing::info!(seq = n, "tick");
                tracing::debug!(seq = n, "detail");
                n += 1;
            }
            n
        })
    };
    std::thread::sleep(Duration::from_millis(20));
    let changes = runtime::set_level("debug").unwrap();
    assert_eq!(changes, ["telemetry.logging.level: info → debug"]);
    std::thread::sleep(Duration::from_millis(20));
    stop.store(true, Ordering::Relaxed);
    let sent = emitter.join().unwrap();

    let lines = s.sink.take();
    let mut ticks: Vec<u64> = lines
        .iter()
        .filter(|l| l["message"] == "tick")
        .map(|l| l["fields"]["seq"].as_u64().unwrap())
        .collect();
    ticks.sort_unstable();
    assert_eq!(
        ticks,
        (0..sent).collect::<Vec<_>>(),
        "every info event arrived once"
    );
    let details = lines.iter().filter(|l| l["message"] == "detail").count();
    assert!(details > 0, "debug events appear after the change");
    assert!(
        changes_lines(&lines).contains(
            &"INFO telemetry settings changed (set_level): telemetry.logging.level: info → debug"
                .to_owned()
        ),
        "{:?}",
        changes_lines(&lines)
    );
    assert!(tracing::enabled!(tracing::Level::DEBUG));
    assert!(runtime::generation() > generation);
    assert_eq!(tasker_telemetry::dynamic::max_level_index(), 1);
    assert_eq!(index_before, 2);
    assert_eq!(
        tasker_telemetry::pipeline::current_config()
            .unwrap()
            .logging
            .level,
        "debug"
    );
}

#[test]
fn a_bad_level_is_refused_naming_the_key_and_changes_nothing() {
    let (_g, s) = setup();
    let err = runtime::set_level("loud").unwrap_err();
    assert!(matches!(
        err,
        ConfigError::InvalidValue {
            key: "telemetry.logging.level",
            ..
        }
    ));
    assert!(err.to_string().contains("loud"), "{err}");
    let err = runtime::set_export_level("info,=").unwrap_err().to_string();
    assert!(err.contains("telemetry.logging.export_level"), "{err}");
    tracing::info!("still info");
    tracing::debug!("still hidden");
    let lines = s.sink.take();
    let messages: Vec<&str> = lines
        .iter()
        .filter(|l| l["target"] != runtime::TARGET)
        .map(|l| l["message"].as_str().unwrap())
        .collect();
    assert_eq!(messages, ["still info"]);
    let errors = changes_lines(&lines);
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(errors[0].starts_with("ERROR telemetry settings not changed (set_level): invalid value \"loud\" for `telemetry.logging.level`"), "{errors:?}");
}

#[test]
fn keys_that_cannot_change_at_run_time_are_refused() {
    let (_g, _s) = setup();
    let err = runtime::set("otlp.endpoint", &"http://127.0.0.1:4318".into()).unwrap_err();
    assert!(
        matches!(err, ConfigError::NotChangeableAtRuntime { .. }),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("`otlp.endpoint` cannot change at run time"),
        "{msg}"
    );
    assert!(msg.contains("telemetry.events.sample_rate"), "{msg}");
    let err = runtime::set("otlp.endpiont", &"x".into())
        .unwrap_err()
        .to_string();
    assert!(err.contains("did you mean"), "{err}");
    // The generic form takes the keyword spelling.
    assert_eq!(
        runtime::set("logging_export_level", &"warn".into()).unwrap(),
        ["telemetry.logging.export_level: info → warn"]
    );
    runtime::set_export_level("info").unwrap();
}

fn wait_for_line(sink: &Sink, what: &str) -> Vec<serde_json::Value> {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut seen = Vec::new();
    loop {
        seen.extend(sink.take());
        if seen
            .iter()
            .any(|l| l["message"].as_str().is_some_and(|m| m.contains(what)))
        {
            return seen;
        }
        assert!(Instant::now() < deadline, "no line with {what:?}: {seen:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn sighup_reloads_the_file_and_a_bad_value_keeps_the_old_settings() {
    let (_g, s) = setup();
    assert!(
        tasker_telemetry::sighup::is_installed(),
        "the handler is installed when the configuration came from a file"
    );

    // A good change, and one that only a restart applies.
    write_config(
        &s.file,
        "warn",
        "[telemetry.events]\nsample_rate = 0.5\n[telemetry.otlp]\nbatch_size = 7",
    );
    // SAFETY: raising a signal whose handler the core installed (checked above).
    assert_eq!(unsafe { libc::raise(libc::SIGHUP) }, 0);
    let lines = wait_for_line(&s.sink, "reload of");
    let line = changes_lines(&lines).join("\n");
    assert!(
        line.starts_with("WARN telemetry settings changed (reload of "),
        "{line}"
    );
    assert!(
        line.contains(
            "telemetry.logging.level: info → warn; telemetry.events.sample_rate: 1 → 0.5"
        ),
        "{line}"
    );
    assert!(
        line.contains("changed there but applied only at the next start: telemetry.otlp"),
        "{line}"
    );
    let config = tasker_telemetry::pipeline::current_config().unwrap();
    assert_eq!(config.logging.level, "warn");
    assert_eq!(config.events.sample_rate, 0.5);
    assert_eq!(config.otlp.batch_size, 512, "not changed at run time");
    tracing::info!("hidden now");
    tracing::error!("shown");
    let shown: Vec<_> = s
        .sink
        .take()
        .into_iter()
        .filter(|l| l["target"] != runtime::TARGET)
        .map(|l| l["message"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(shown, ["shown"]);

    // A bad value: an error line naming the key, the settings stay.
    write_config(&s.file, "loud", "");
    assert_eq!(unsafe { libc::raise(libc::SIGHUP) }, 0);
    let lines = wait_for_line(&s.sink, "not changed (reload");
    let line = changes_lines(&lines).join("\n");
    assert!(
        line.starts_with("ERROR telemetry settings not changed (reload of "),
        "{line}"
    );
    assert!(
        line.contains("`telemetry.logging.level`") && line.contains("loud"),
        "{line}"
    );
    let config = tasker_telemetry::pipeline::current_config().unwrap();
    assert_eq!(config.logging.level, "warn");
    assert_eq!(config.events.sample_rate, 0.5);

    // Reload by call, as a host that owns SIGHUP does from its own handler.
    write_config(&s.file, "info", "");
    let changes = runtime::reload().unwrap();
    assert_eq!(
        changes,
        [
            "telemetry.logging.level: warn → info",
            "telemetry.events.sample_rate: 0.5 → 1"
        ]
    );
}

#[test]
fn a_reload_names_every_section_it_cannot_apply_until_the_next_start() {
    let (_g, s) = setup();
    write_config(
        &s.file,
        "warn",
        "opentelemetry_bridge = \"off\"\n[telemetry.prometheus]\nport = 9999\n[telemetry.health]\nmax_queue_fill = 0.5",
    );
    runtime::reload().unwrap();
    let line = changes_lines(&s.sink.take()).join("\n");
    assert!(
        line.contains("telemetry.logging.level: info → warn"),
        "{line}"
    );
    assert!(
        line.contains(
            "applied only at the next start: telemetry.prometheus, telemetry.health, telemetry.opentelemetry_bridge"
        ),
        "{line}"
    );
    let config = tasker_telemetry::pipeline::current_config().unwrap();
    assert_eq!(config.prometheus.port, 9464, "not changed at run time");
    assert_eq!(
        config.opentelemetry_bridge,
        tasker_telemetry::bridge::BridgeMode::Auto
    );
}
