//! Configuration: defaults, TOML, the TASKER_ENV overlay, environment precedence and errors.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use tasker_telemetry::config::{LogFormat, LogOutput, Protocol, SamplerKind, SETTINGS};
use tasker_telemetry::{ConfigError, TelemetryConfig};

fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "tasker-telemetry-config-{name}-{}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn no_file_and_no_variables_means_pretty_console_and_no_export() {
    let c = TelemetryConfig::load_from(None, &env(&[])).unwrap();
    assert_eq!(c, TelemetryConfig::default());
    assert_eq!(c.logging.format, LogFormat::Pretty);
    assert_eq!(c.logging.level, "info");
    assert_eq!(c.logging.export_level, "info");
    assert!(!c.exports());
}

#[test]
fn every_section_parses_from_toml() {
    let c = TelemetryConfig::from_toml_str(
        r#"
        [telemetry]
        service_name = "orchestrator"
        service_version = "1.2.3"
        enabled = true
        resource_attributes = { "host.name" = "box" }
        [telemetry.otlp]
        endpoint = "http://127.0.0.1:4317"
        protocol = "grpc"
        timeout_ms = 2500
        headers = { "x-api-key" = "abc" }
        batch_size = 64
        max_queue_size = 10000
        scheduled_delay_ms = 200
        [telemetry.sampling]
        sampler = "parent_based_trace_id_ratio"
        ratio = 0.25
        [telemetry.spans]
        max_attributes = 64
        max_events = 32
        max_attribute_length = 1024
        max_dynamic_callsites = 100
        [telemetry.metrics]
        enabled = false
        export_interval_ms = 1500
        allow_correlation_labels = true
        [telemetry.logging]
        format = "json"
        level = "warn,tasker=debug"
        export_level = "debug"
        export_logs = true
        output = "stdout"
        ansi = "false"
        redact_keys = ["card"]
        "#,
    )
    .unwrap();
    assert_eq!(c.service_name.as_deref(), Some("orchestrator"));
    assert_eq!(c.service_version.as_deref(), Some("1.2.3"));
    assert_eq!(c.resource_attributes["host.name"], "box");
    assert_eq!(c.otlp.endpoint.as_deref(), Some("http://127.0.0.1:4317"));
    assert_eq!(c.otlp.protocol, Protocol::Grpc);
    assert_eq!(c.otlp.timeout, Duration::from_millis(2500));
    assert_eq!(c.otlp.headers.0["x-api-key"], "abc");
    assert_eq!((c.otlp.batch_size, c.otlp.max_queue_size), (64, 10000));
    assert_eq!(c.otlp.scheduled_delay, Duration::from_millis(200));
    assert_eq!(c.sampling.sampler, SamplerKind::ParentBasedTraceIdRatio);
    assert_eq!(c.sampling.ratio, 0.25);
    assert_eq!((c.spans.max_attributes, c.spans.max_events), (64, 32));
    assert_eq!(
        (c.spans.max_attribute_length, c.spans.max_dynamic_callsites),
        (1024, 100)
    );
    assert!(!c.metrics.enabled && c.metrics.allow_correlation_labels);
    assert_eq!(c.metrics.export_interval, Duration::from_millis(1500));
    assert_eq!(c.logging.format, LogFormat::Json);
    assert_eq!(c.logging.level, "warn,tasker=debug");
    assert!(c.logging.export_logs);
    assert_eq!(c.logging.output, LogOutput::Stdout);
    assert_eq!(c.logging.ansi, Some(false));
    assert_eq!(c.logging.redact_keys, vec!["card".to_owned()]);
}

#[test]
fn precedence_is_file_then_env_overlay_then_variables() {
    let dir = temp_dir("precedence");
    let base = dir.join("telemetry.toml");
    std::fs::write(
        &base,
        "[telemetry]\nservice_name = \"from-base\"\nservice_version = \"base\"\n[telemetry.otlp]\nendpoint = \"http://base:4318\"\ntimeout_ms = 1000\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("production.toml"),
        "[telemetry]\nservice_name = \"from-overlay\"\n[telemetry.otlp]\nendpoint = \"http://overlay:4318\"\n",
    )
    .unwrap();
    let vars = env(&[
        ("TASKER_CONFIG", base.to_str().unwrap()),
        ("TASKER_ENV", "production"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://variable:4317"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
    ]);
    let c = TelemetryConfig::load_from(None, &vars).unwrap();
    assert_eq!(
        c.service_version.as_deref(),
        Some("base"),
        "base file applies"
    );
    assert_eq!(
        c.otlp.timeout,
        Duration::from_millis(1000),
        "base file applies"
    );
    assert_eq!(
        c.service_name.as_deref(),
        Some("from-overlay"),
        "overlay beats base"
    );
    assert_eq!(
        c.otlp.endpoint.as_deref(),
        Some("http://variable:4317"),
        "variable beats overlay"
    );
    assert_eq!(c.otlp.protocol, Protocol::Grpc);
    assert_eq!(c.environment.as_deref(), Some("production"));

    // An explicit path wins over TASKER_CONFIG; a missing overlay is fine.
    let other = dir.join("other.toml");
    std::fs::write(&other, "[telemetry]\nservice_name = \"explicit\"\n").unwrap();
    let c = TelemetryConfig::load_from(
        Some(&other),
        &env(&[
            ("TASKER_CONFIG", base.to_str().unwrap()),
            ("TASKER_ENV", "staging"),
        ]),
    )
    .unwrap();
    assert_eq!(c.service_name.as_deref(), Some("explicit"));
}

#[test]
fn standard_otel_variables_are_honoured() {
    let c = TelemetryConfig::load_from(
        None,
        &env(&[
            ("OTEL_SERVICE_NAME", "svc"),
            ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", "0.5"),
            ("OTEL_RESOURCE_ATTRIBUTES", "team=core,region=eu%2Dwest"),
            (
                "OTEL_EXPORTER_OTLP_HEADERS",
                "authorization=Bearer%20s3cret,x-tenant=7",
            ),
            ("OTEL_SDK_DISABLED", "true"),
            ("TASKER_LOG_FORMAT", "compact"),
            ("RUST_LOG", "debug"),
        ]),
    )
    .unwrap();
    assert_eq!(c.service_name.as_deref(), Some("svc"));
    assert_eq!(c.sampling.sampler, SamplerKind::ParentBasedTraceIdRatio);
    assert_eq!(c.sampling.ratio, 0.5);
    assert_eq!(c.resource_attributes["region"], "eu-west");
    assert_eq!(c.otlp.headers.0["authorization"], "Bearer s3cret");
    assert!(!c.enabled);
    assert_eq!(c.logging.format, LogFormat::Compact);
    assert_eq!(c.logging.level, "debug", "RUST_LOG is the fallback");
    let c = TelemetryConfig::load_from(
        None,
        &env(&[("RUST_LOG", "debug"), ("TASKER_LOG_LEVEL", "warn")]),
    )
    .unwrap();
    assert_eq!(
        c.logging.level, "warn",
        "TASKER_LOG_LEVEL wins over RUST_LOG"
    );
}

fn invalid(err: ConfigError) -> (String, String, String) {
    match err {
        ConfigError::InvalidValue {
            key,
            value,
            allowed,
            ..
        } => (key.to_owned(), value, allowed),
        other => panic!("expected InvalidValue, got {other}"),
    }
}

#[test]
fn every_invalid_value_names_the_key_the_value_and_what_is_allowed() {
    let cases: &[(&str, &str, &str)] = &[
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "udp", "grpc, http/protobuf"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "localhost:4317", "http://"),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "soon", "an integer"),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "0", "from 1"),
        ("OTEL_TRACES_SAMPLER", "sometimes", "parentbased_always_on"),
        ("OTEL_TRACES_SAMPLER_ARG", "1.5", "0.0 to 1.0"),
        ("OTEL_SDK_DISABLED", "maybe", "true or false"),
        ("OTEL_RESOURCE_ATTRIBUTES", "novalue", "key=value"),
        ("TASKER_LOG_FORMAT", "xml", "pretty, json, compact"),
        ("TASKER_LOG_LEVEL", "info,[[", "a filter such as"),
        ("TASKER_EXPORT_LEVEL", "=", "a level after"),
        // A bare word that is not a level is refused, never read as a target filter (which
        // turned the console off, errors included).
        ("TASKER_LOG_LEVEL", "verbose", "is neither"),
        ("TASKER_EXPORT_LEVEL", "loud", "is neither"),
        ("TASKER_LOG_OUTPUT", "file", "stderr, stdout"),
        ("OTEL_BSP_MAX_QUEUE_SIZE", "-1", "an integer"),
        ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "0", "an integer"),
        ("OTEL_METRIC_EXPORT_INTERVAL", "1", "an integer from 10"),
        ("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", "x", "an integer"),
    ];
    for (var, value, allowed_part) in cases {
        let err = TelemetryConfig::load_from(None, &env(&[(var, value)])).unwrap_err();
        let message = err.to_string();
        assert!(message.contains(var), "{var}: {message}");
        assert!(message.contains(value), "{var}: {message}");
        let (key, _, allowed) = invalid(err);
        assert!(key.starts_with("telemetry."), "{var}: {key}");
        assert!(allowed.contains(allowed_part), "{var}: allowed = {allowed}");
    }
    // And from a file, naming the file.
    let err = TelemetryConfig::from_toml_str("[telemetry.logging]\nformat = 3\n").unwrap_err();
    assert!(
        err.to_string().contains("telemetry.logging.format"),
        "{err}"
    );
    assert!(err.to_string().contains("config file"), "{err}");
}

#[test]
fn every_setting_rejects_a_value_of_the_wrong_type() {
    for setting in SETTINGS {
        let (section, leaf) = setting.key.rsplit_once('.').unwrap();
        // An array is wrong for every key except the list of redaction patterns.
        let value = if setting.key.ends_with("redact_keys") {
            "3"
        } else {
            "[1, 2]"
        };
        let toml = format!("[{section}]\n{leaf} = {value}\n");
        let err = TelemetryConfig::from_toml_str(&toml).unwrap_err();
        assert!(
            err.to_string().contains(setting.key),
            "{}: {err}",
            setting.key
        );
    }
}

#[test]
fn unknown_keys_bad_toml_and_missing_files_are_errors_that_say_so() {
    let err =
        TelemetryConfig::from_toml_str("[telemetry.otlp]\nendpiont = \"http://x\"\n").unwrap_err();
    assert!(matches!(err, ConfigError::UnknownKey { .. }));
    assert!(err.to_string().contains("telemetry.otlp.endpiont"), "{err}");

    let err = TelemetryConfig::from_toml_str("[telemetry\n").unwrap_err();
    assert!(matches!(err, ConfigError::Parse { .. }), "{err}");

    let missing = PathBuf::from("/nonexistent/telemetry.toml");
    let err = TelemetryConfig::load_from(Some(&missing), &env(&[])).unwrap_err();
    assert!(
        err.to_string().contains("/nonexistent/telemetry.toml"),
        "{err}"
    );

    let mut c = TelemetryConfig::default();
    let err = c.set("otlp.nonsense", "1").unwrap_err();
    assert!(err.to_string().contains("otlp.nonsense"), "{err}");
}

#[test]
fn otlp_header_values_are_never_printed() {
    let vars = env(&[(
        "OTEL_EXPORTER_OTLP_HEADERS",
        "authorization=Bearer topsecret",
    )]);
    let c = TelemetryConfig::load_from(None, &vars).unwrap();
    assert!(!format!("{c:?}").contains("topsecret"));
    let mut c = TelemetryConfig::default();
    let err = c
        .set("otlp.headers", "no-equals-sign-topsecret")
        .unwrap_err();
    assert!(!err.to_string().contains("topsecret"), "{err}");
    for bad in [
        "x-key=top%0Asecret",
        "x key=topsecret",
        "x-key=caf%C3%A9topsecret",
    ] {
        let err = TelemetryConfig::load_from(None, &env(&[("OTEL_EXPORTER_OTLP_HEADERS", bad)]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("OTEL_EXPORTER_OTLP_HEADERS"), "{err}");
        assert!(
            err.contains("<hidden>") && !err.contains("topsecret"),
            "{err}"
        );
    }
}

#[test]
fn the_shipped_example_config_is_valid() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../config/telemetry.example.toml");
    let c = TelemetryConfig::load_from(Some(&path), &env(&[])).unwrap();
    assert_eq!(c.service_name.as_deref(), Some("orchestrator"));
}

#[test]
fn the_readme_documents_every_setting_and_variable() {
    let readme =
        std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../README.md"))
            .unwrap();
    for setting in SETTINGS {
        assert!(
            readme.contains(&format!("`{}`", setting.key)),
            "README lacks {}",
            setting.key
        );
        for var in setting.env {
            assert!(readme.contains(&format!("`{var}`")), "README lacks {var}");
        }
    }
}

/// `TASKER_CONFIG` naming something that is not a small regular file: a clear error, at once.
fn refused(path: &std::path::Path) -> String {
    let started = std::time::Instant::now();
    let err = TelemetryConfig::load_from(None, &env(&[("TASKER_CONFIG", path.to_str().unwrap())]))
        .expect_err("must be refused");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
    assert!(matches!(err, ConfigError::NotReadable { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains(path.to_str().unwrap()), "{msg}");
    assert!(msg.contains("TASKER_CONFIG"), "{msg}");
    msg
}

#[cfg(unix)]
#[test]
fn config_files_must_be_small_regular_files() {
    let msg = refused(std::path::Path::new("/dev/zero"));
    assert!(
        msg.contains("not a regular file (a character device)"),
        "{msg}"
    );

    let dir = temp_dir("special");
    let msg = refused(&dir);
    assert!(msg.contains("not a regular file (a directory)"), "{msg}");

    let fifo = dir.join("fifo.toml");
    let _ = std::fs::remove_file(&fifo);
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs");
    assert!(made.success());
    let msg = refused(&fifo);
    assert!(msg.contains("not a regular file (a FIFO)"), "{msg}");

    let big = dir.join("big.toml");
    let file = std::fs::File::create(&big).unwrap();
    file.set_len(5 * 1024 * 1024).unwrap(); // sparse
    let msg = refused(&big);
    assert!(msg.contains("larger than 4 MiB"), "{msg}");

    // a file of the largest size allowed is still read (and then parsed)
    let ok = dir.join("ok.toml");
    std::fs::write(&ok, "[telemetry]\nservice_name = \"svc\"\n").unwrap();
    let c = TelemetryConfig::load_from(Some(&ok), &env(&[])).unwrap();
    assert_eq!(c.service_name.as_deref(), Some("svc"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn attribute_limits_come_from_the_otel_variables_and_the_smaller_length_wins() {
    let c = TelemetryConfig::load_from(
        None,
        &env(&[
            ("OTEL_ATTRIBUTE_COUNT_LIMIT", "64"),
            ("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "1000"),
            ("OTEL_SPAN_LINK_COUNT_LIMIT", "7"),
            ("OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT", "8"),
            ("OTEL_LINK_ATTRIBUTE_COUNT_LIMIT", "9"),
            ("TASKER_METRICS_MAX_INSTRUMENTS", "50"),
        ]),
    )
    .unwrap();
    assert_eq!(c.spans.attribute_count_limit, 64);
    assert_eq!(
        (
            c.spans.max_links,
            c.spans.max_event_attributes,
            c.spans.max_link_attributes
        ),
        (7, 8, 9)
    );
    assert_eq!(c.metrics.max_instruments, 50);
    assert_eq!(c.spans.value_length_limit(), 1000, "the smaller wins");
    let c = TelemetryConfig::load_from(
        None,
        &env(&[("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "100000")]),
    )
    .unwrap();
    assert_eq!(
        c.spans.value_length_limit(),
        8192,
        "the variable does not raise max_attribute_length"
    );
    let c = TelemetryConfig::default();
    assert_eq!(
        (c.spans.attribute_count_limit, c.spans.value_length_limit()),
        (128, 8192)
    );
    for (var, bad) in [
        ("OTEL_ATTRIBUTE_COUNT_LIMIT", "0"),
        ("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "lots"),
        ("OTEL_SPAN_LINK_COUNT_LIMIT", "-1"),
        ("TASKER_METRICS_MAX_INSTRUMENTS", "many"),
    ] {
        let err = TelemetryConfig::load_from(None, &env(&[(var, bad)]))
            .unwrap_err()
            .to_string();
        assert!(err.contains(var) && err.contains("an integer"), "{err}");
    }
}

/// Loads `vars` (and the file `toml`, when given) and applies `overrides` as `init` does.
fn load_with(
    toml: Option<&str>,
    vars: &[(&str, &str)],
    overrides: &[(&str, &str)],
) -> Result<TelemetryConfig, ConfigError> {
    let file = toml.map(|text| {
        let dir = temp_dir("load-with");
        let path = dir.join(format!("{:x}.toml", text.len() * 31 + vars.len()));
        std::fs::write(&path, text).unwrap();
        path
    });
    let mut c = TelemetryConfig::load_from(file.as_deref(), &env(vars))?;
    for (k, v) in overrides {
        c.set(k, v)?;
    }
    Ok(c)
}

#[test]
fn service_name_precedence_follows_the_spec() {
    let attrs = (
        "OTEL_RESOURCE_ATTRIBUTES",
        "service.name=from-attributes,team=core",
    );
    let name = ("OTEL_SERVICE_NAME", "from-variable");
    let file = "[telemetry]\nservice_name = \"from-file\"\n";
    let file_attrs =
        "[telemetry.resource_attributes]\n\"service.name\" = \"from-file-attributes\"\n";
    // (file, variables, overrides, expected service.name)
    #[allow(clippy::type_complexity)]
    let cases: &[(Option<&str>, &[(&str, &str)], &[(&str, &str)], &str)] = &[
        (None, &[attrs], &[], "from-attributes"),
        (None, &[name], &[], "from-variable"),
        (None, &[attrs, name], &[], "from-variable"),
        (
            None,
            &[attrs, name],
            &[("service_name", "from-init")],
            "from-init",
        ),
        (
            None,
            &[attrs],
            &[("service_name", "from-init")],
            "from-init",
        ),
        // An override of the attributes that names the service is explicit too.
        (
            None,
            &[name],
            &[("resource_attributes", "service.name=init-attr")],
            "init-attr",
        ),
        // Other attribute overrides leave the variable's name alone.
        (
            None,
            &[name],
            &[("resource_attributes", "team=x")],
            "from-variable",
        ),
        (Some(file), &[attrs], &[], "from-file"),
        (Some(file), &[attrs, name], &[], "from-variable"),
        (Some(file_attrs), &[], &[], "from-file-attributes"),
        (Some(file_attrs), &[name], &[], "from-variable"),
    ];
    for (toml, vars, overrides, expected) in cases {
        let c = load_with(*toml, vars, overrides).unwrap();
        assert_eq!(
            c.resolved_service_name(),
            *expected,
            "{toml:?} {vars:?} {overrides:?}"
        );
    }
    // Nothing configured: the spec's default, from the executable's name.
    let c = load_with(None, &[], &[]).unwrap();
    let exe = std::env::current_exe().unwrap();
    assert_eq!(
        c.resolved_service_name(),
        format!(
            "unknown_service:{}",
            exe.file_name().unwrap().to_string_lossy()
        )
    );
    assert_eq!(c.service_name, None);
}

#[test]
fn otel_sdk_disabled_reads_true_and_false_in_any_case_and_refuses_the_rest() {
    let endpoint = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318");
    for (value, enabled) in [
        ("true", false),
        ("TRUE", false),
        (" True ", false),
        ("false", true),
        ("FALSE", true),
    ] {
        let c = load_with(None, &[("OTEL_SDK_DISABLED", value), endpoint], &[]).unwrap();
        assert_eq!(c.enabled, enabled, "OTEL_SDK_DISABLED={value:?}");
        assert_eq!(c.exports(), enabled, "nothing exported when disabled");
    }
    // Values the spec would read as false (and a user probably meant as true): an error.
    for value in ["1", "yes", "on", "0", "disabled"] {
        let err = load_with(None, &[("OTEL_SDK_DISABLED", value)], &[])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("OTEL_SDK_DISABLED") && err.contains("true or false"),
            "{err}"
        );
    }
    // The key itself is a boolean in files and overrides.
    let c = load_with(Some("[telemetry]\nenabled = false\n"), &[endpoint], &[]).unwrap();
    assert!(!c.exports());
}

#[test]
fn otel_propagators_are_a_list_of_known_formats() {
    use tasker_telemetry::config::Propagator::{Baggage, TraceContext};
    let cases: &[(&str, &[tasker_telemetry::config::Propagator])] = &[
        ("tracecontext,baggage", &[TraceContext, Baggage]),
        ("tracecontext", &[TraceContext]),
        ("baggage", &[Baggage]),
        (" Baggage , tracecontext ", &[Baggage, TraceContext]),
        ("tracecontext,tracecontext", &[TraceContext]),
        ("none", &[]),
    ];
    for (value, expected) in cases {
        let c = load_with(None, &[("OTEL_PROPAGATORS", value)], &[]).unwrap();
        assert_eq!(c.propagators, *expected, "OTEL_PROPAGATORS={value:?}");
    }
    assert_eq!(
        TelemetryConfig::default().propagators,
        vec![TraceContext, Baggage]
    );
    for (value, named) in [
        (
            "b3",
            "`b3` is an OpenTelemetry propagator that tasker-telemetry does not support",
        ),
        ("tracecontext,xray", "`xray`"),
        ("tracecontext,w3c", "`w3c` is not one"),
        ("none,baggage", "cannot be combined"),
    ] {
        let err = load_with(None, &[("OTEL_PROPAGATORS", value)], &[])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("OTEL_PROPAGATORS") && err.contains("telemetry.propagators"),
            "{err}"
        );
        assert!(err.contains(named), "{value}: {err}");
    }
    let c = load_with(
        Some("[telemetry]\npropagators = [\"tracecontext\"]\n"),
        &[],
        &[],
    )
    .unwrap();
    assert_eq!(c.propagators, vec![TraceContext]);
}

#[test]
fn otel_traces_sampler_takes_the_spec_names() {
    let cases: &[(&str, SamplerKind)] = &[
        ("always_on", SamplerKind::AlwaysOn),
        ("always_off", SamplerKind::AlwaysOff),
        ("traceidratio", SamplerKind::TraceIdRatio),
        ("parentbased_always_on", SamplerKind::ParentBasedAlwaysOn),
        ("parentbased_always_off", SamplerKind::ParentBasedAlwaysOff),
        (
            "parentbased_traceidratio",
            SamplerKind::ParentBasedTraceIdRatio,
        ),
        ("PARENTBASED_ALWAYS_OFF", SamplerKind::ParentBasedAlwaysOff),
        ("parent_based_always_on", SamplerKind::ParentBasedAlwaysOn),
        ("trace_id_ratio", SamplerKind::TraceIdRatio),
    ];
    for (value, kind) in cases {
        let c = load_with(
            None,
            &[
                ("OTEL_TRACES_SAMPLER", value),
                ("OTEL_TRACES_SAMPLER_ARG", "0.25"),
            ],
            &[],
        )
        .unwrap();
        assert_eq!(c.sampling.sampler, *kind, "OTEL_TRACES_SAMPLER={value}");
        assert_eq!(c.sampling.ratio, 0.25);
    }
    assert_eq!(
        TelemetryConfig::default().sampling.sampler,
        SamplerKind::ParentBasedAlwaysOn
    );
    for value in ["jaeger_remote", "parentbased_jaeger_remote", "xray"] {
        let err = load_with(None, &[("OTEL_TRACES_SAMPLER", value)], &[])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("OTEL_TRACES_SAMPLER") && err.contains("does not support"),
            "{err}"
        );
    }
}

#[test]
fn tasker_env_reads_an_overlay_only_next_to_the_base_file() {
    // An application's own ./config/production.toml in the working directory is never read.
    let dir = temp_dir("cwd-overlay");
    std::fs::create_dir_all(dir.join("config")).unwrap();
    std::fs::write(
        dir.join("config/production.toml"),
        "[database]\nurl = \"postgres://x\"\n[telemetry]\nservice_name = \"from-cwd\"\n",
    )
    .unwrap();
    let previous = std::env::current_dir().unwrap();
    std::env::set_current_dir(&dir).unwrap();
    let loaded = TelemetryConfig::load_from(None, &env(&[("TASKER_ENV", "production")]));
    std::env::set_current_dir(previous).unwrap();
    let c = loaded.unwrap();
    assert_eq!(
        c.service_name, None,
        "the working directory's file is not read"
    );
    assert_eq!(c.environment.as_deref(), Some("production"));

    // Next to TASKER_CONFIG it is.
    let base = dir.join("config/telemetry.toml");
    std::fs::write(&base, "[telemetry]\nservice_version = \"1\"\n").unwrap();
    let c = TelemetryConfig::load_from(
        None,
        &env(&[
            ("TASKER_CONFIG", base.to_str().unwrap()),
            ("TASKER_ENV", "production"),
        ]),
    )
    .unwrap();
    assert_eq!(c.service_name.as_deref(), Some("from-cwd"));
    assert_eq!(c.service_version.as_deref(), Some("1"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_application_file_keeps_its_own_tables_and_typos_get_a_suggestion() {
    let c = TelemetryConfig::from_toml_str(
        r#"
        name = "shop"
        [database]
        url = "postgres://localhost/shop"
        pool = 5
        [logging]
        level = "whatever the app means"
        [telemetry]
        service_name = "shop"
        [telemetry.otlp]
        endpoint = "http://127.0.0.1:4318"
        "#,
    )
    .unwrap();
    assert_eq!(c.service_name.as_deref(), Some("shop"));
    assert!(c.exports());
    assert!(TelemetryConfig::from_toml_str("[database]\nurl = \"x\"\n").is_ok());

    // (document, unknown key, suggestion)
    let cases: &[(&str, &str, Option<&str>)] = &[
        (
            "[telemetry.otlp]\nendpiont = \"http://x\"\n",
            "telemetry.otlp.endpiont",
            Some("telemetry.otlp.endpoint"),
        ),
        (
            "[telemetry]\nservce_name = \"x\"\n",
            "telemetry.servce_name",
            Some("telemetry.service_name"),
        ),
        (
            "[telemetry.sampling]\nsampller = \"always_on\"\n",
            "telemetry.sampling.sampller",
            Some("telemetry.sampling.sampler"),
        ),
        (
            "[telemetry]\npropagator = [\"baggage\"]\n",
            "telemetry.propagator",
            Some("telemetry.propagators"),
        ),
        (
            "[telemtry]\nservice_name = \"x\"\n",
            "telemtry",
            Some("telemetry"),
        ),
        ("[telemetry]\ncolour = \"red\"\n", "telemetry.colour", None),
    ];
    for (doc, key, suggestion) in cases {
        let err = TelemetryConfig::from_toml_str(doc).unwrap_err();
        let message = err.to_string();
        match &err {
            ConfigError::UnknownKey {
                key: k,
                suggestion: s,
                ..
            } => {
                assert_eq!(k, key, "{doc}");
                assert_eq!(s.as_deref(), *suggestion, "{doc}");
            }
            other => panic!("{doc}: expected UnknownKey, got {other}"),
        }
        assert!(message.contains(key), "{message}");
        if let Some(s) = suggestion {
            assert!(
                message.contains(&format!("did you mean `{s}`?")),
                "{message}"
            );
        }
    }
}

#[test]
fn unknown_overrides_suggest_the_key_in_the_spelling_used() {
    let mut c = TelemetryConfig::default();
    for (given, suggested) in [
        ("otlp_endpont", "otlp_endpoint"),
        ("otlp.endpont", "otlp.endpoint"),
        ("servce_name", "service_name"),
        ("logging_fromat", "logging_format"),
        ("telemetry.sampling.ratoi", "telemetry.sampling.ratio"),
    ] {
        let err = c.set(given, "x").unwrap_err();
        assert!(
            matches!(&err, ConfigError::UnknownKey { suggestion: Some(s), .. } if s == suggested),
            "{given}: {err:?}"
        );
        assert!(
            err.to_string()
                .contains(&format!("did you mean `{suggested}`?")),
            "{err}"
        );
        let err = c
            .set_value(given, &tasker_telemetry::fields::FieldValue::from("x"))
            .unwrap_err();
        assert!(err.to_string().contains(suggested), "{err}");
    }
    let err = c.set("frobnicate", "1").unwrap_err();
    assert!(
        matches!(
            &err,
            ConfigError::UnknownKey {
                suggestion: None,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn keyword_spellings_replace_every_dot_with_an_underscore() {
    use tasker_telemetry::fields::FieldValue;
    let mut c = TelemetryConfig::default();
    c.set_value("slow_operations_threshold_ms", &FieldValue::Int(5))
        .unwrap();
    c.set_value("events_sample_rate", &FieldValue::Float(0.5))
        .unwrap();
    c.set_value(
        "otlp_traces_endpoint",
        &FieldValue::from("http://127.0.0.1:4318/v1/traces"),
    )
    .unwrap();
    assert_eq!(c.slow_operations.threshold_ms, 5);
    assert_eq!(c.events.sample_rate, 0.5);
    assert!(c
        .set_value("slow_operations_treshold_ms", &FieldValue::Int(5))
        .is_err());
}
