//! The bindings' start-up policy (`foreign::startup_from`, `foreign::init`) in a process of its
//! own (it installs the global pipeline): an invalid setting falls back to the defaults and says
//! so; the environment starts export; an explicit init after that applies its overrides; a
//! second explicit init is an error naming the call.

use std::collections::BTreeMap;

use tasker_telemetry::fields::FieldValue;
use tasker_telemetry::foreign::{self, auto_init_requested, startup_from};
use tasker_telemetry::{is_exporting, ConfigError};

fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn start_up_policy() {
    let dir = std::env::temp_dir().join(format!("startup-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("spans.jsonl");
    let file = file.to_string_lossy().into_owned();

    assert!(!auto_init_requested(&env(&[])));
    assert!(!auto_init_requested(&env(&[
        ("TASKER_OTLP_FILE", &file),
        ("TASKER_TRACING_AUTO_INIT", "0")
    ])));
    assert!(auto_init_requested(&env(&[(
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "http://127.0.0.1:1/v1/traces"
    )])));

    // An invalid setting with an export variable: defaults for the console, no export, one line.
    let bad = startup_from(&env(&[
        ("TASKER_LOG_FORMAT", "jsonl"),
        ("TASKER_OTLP_FILE", &file),
    ]));
    assert!(!bad.exporting);
    let problem = bad.problem.expect("a problem is reported");
    for part in [
        "TASKER_LOG_FORMAT",
        "jsonl",
        "pretty, json, compact",
        "export was not started",
    ] {
        assert!(problem.contains(part), "{problem:?} lacks {part:?}");
    }
    assert!(
        tracing::enabled!(tracing::Level::ERROR),
        "the console still prints errors"
    );
    assert!(!is_exporting());

    // Loaded again with a valid environment (as after a fix): export starts automatically.
    let good = startup_from(&env(&[("TASKER_OTLP_FILE", &file)]));
    assert_eq!(good.problem, None);
    assert!(good.exporting && is_exporting());
    tracing::info_span!("before_init").in_scope(|| {});

    // An explicit init that cannot start (its file cannot be opened) leaves the running export
    // as it was, and may be retried.
    let broken = [(
        "otlp_file".to_owned(),
        FieldValue::from("/nonexistent-dir/spans.jsonl"),
    )];
    let err = foreign::init("tracing.init()", None, &broken).expect_err("cannot open the file");
    assert!(
        err.to_string().contains("/nonexistent-dir/spans.jsonl"),
        "{err}"
    );
    assert!(is_exporting(), "the automatic export goes on");

    // An explicit init after the automatic start applies its overrides instead of failing, and
    // what was recorded before reaches its exporter.
    let overrides = [
        ("service_name".to_owned(), FieldValue::from("explicit")),
        ("otlp_file".to_owned(), FieldValue::from(file.as_str())),
        (
            "logging_redact_keys".to_owned(),
            FieldValue::List(vec!["pin".into()]),
        ),
    ];
    foreign::init("tracing.init()", None, &overrides).expect("applies over the automatic start");
    assert!(is_exporting());
    tracing::info_span!("after_restart").in_scope(|| {});
    tasker_telemetry::flush(std::time::Duration::from_secs(5)).expect("delivered");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let written = loop {
        let written = std::fs::read_to_string(&file).unwrap_or_default();
        if written.contains("before_init") || std::time::Instant::now() > deadline {
            break written;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(
        written.contains("before_init"),
        "recorded before init is delivered"
    );
    assert!(written.contains("after_restart") && written.contains("explicit"));

    // A second explicit init names the call in the language's words.
    let again = foreign::init("tracing.init()", None, &[]).expect_err("second explicit init");
    assert!(matches!(
        again,
        foreign::ForeignError::Config(ConfigError::AlreadyInitialized { .. })
    ));
    assert!(again
        .to_string()
        .contains("tracing.init() was already called"));

    // After shutdown, init says so (not "already called").
    tasker_telemetry::shutdown(std::time::Duration::from_secs(5)).expect("shut down");
    let after = foreign::init("tracing.init()", None, &[]).expect_err("after shutdown");
    assert!(matches!(
        after,
        foreign::ForeignError::Config(ConfigError::ShutDown { .. })
    ));
    let _ = std::fs::remove_dir_all(&dir);
}
