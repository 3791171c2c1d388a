//! The exporter part of the OpenTelemetry environment specification, one table per family of
//! variables: endpoint, headers, protocol, timeout, compression, certificate, with the
//! precedence of a per-signal variable over the generic one; the `OTEL_*_EXPORTER` selection
//! and what starts export.

use std::collections::BTreeMap;
use std::time::Duration;

use tasker_telemetry::config::{Compression, Protocol};
use tasker_telemetry::stats::Signal::{self, Logs, Metrics, Traces};
use tasker_telemetry::TelemetryConfig;

fn load(pairs: &[(&str, &str)]) -> TelemetryConfig {
    let env: BTreeMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    TelemetryConfig::load_from(None, &env).unwrap_or_else(|e| panic!("{pairs:?} should load: {e}"))
}

fn error(pairs: &[(&str, &str)]) -> String {
    let env: BTreeMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    TelemetryConfig::load_from(None, &env)
        .expect_err("should be refused")
        .to_string()
}

const E: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";

/// Variables of one case.
type Env<'a> = &'a [(&'a str, &'a str)];
/// A check of one signal's resolved settings.
type Check<'a> = &'a dyn Fn(&TelemetryConfig, Signal) -> bool;

#[test]
fn endpoints_per_signal_are_used_as_is_and_the_generic_one_is_a_base_url() {
    #[rustfmt::skip]
    let cases: &[(Env, Signal, Option<&str>)] = &[
        (&[(E, "http://c:4318")], Traces, Some("http://c:4318/v1/traces")),
        (&[(E, "http://c:4318/")], Metrics, Some("http://c:4318/v1/metrics")),
        (&[(E, "http://c:4318/otlp")], Logs, Some("http://c:4318/otlp/v1/logs")),
        (&[(E, "http://c:4317"), ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")], Metrics, Some("http://c:4317")),
        // A traces URL given as the generic endpoint: read as its base, never /v1/traces/v1/metrics.
        (&[(E, "http://c:4318/v1/traces")], Metrics, Some("http://c:4318/v1/metrics")),
        (&[(E, "http://c:4318/v1/traces")], Traces, Some("http://c:4318/v1/traces")),
        (&[(E, "http://c:4318"), ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "https://t:9/custom")], Traces, Some("https://t:9/custom")),
        (&[(E, "http://c:4318"), ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "https://t:9/custom")], Metrics, Some("http://c:4318/v1/metrics")),
        (&[("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "https://m:4318/v1/metrics")], Metrics, Some("https://m:4318/v1/metrics")),
        (&[("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "https://m:4318/v1/metrics")], Traces, None),
        (&[], Traces, None),
    ];
    for (env, signal, expected) in cases {
        let c = load(env);
        let got = c.otlp.resolve(*signal).map(|e| e.url);
        assert_eq!(got.as_deref(), *expected, "{env:?} {signal:?}");
    }
    let note = load(&[(E, "http://c:4318/v1/traces")])
        .otlp
        .resolve(Metrics)
        .unwrap()
        .endpoint_note
        .unwrap();
    assert!(
        note.contains("base URL") && note.contains("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"),
        "{note}"
    );
    assert!(
        error(&[("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "collector:4318")])
            .contains("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT")
    );
}

#[test]
fn headers_protocol_timeout_and_compression_per_signal_win_over_the_generic_ones() {
    let base = [
        (E, "http://c:4318"),
        ("OTEL_EXPORTER_OTLP_HEADERS", "x-api-key=generic,x-team=a"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "7000"),
        ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
    ];
    #[rustfmt::skip]
    let cases: &[(&str, &str, Signal, Check)] = &[
        ("", "", Traces, &|c, s| c.otlp.resolve(s).unwrap().headers.0["x-api-key"] == "generic"),
        ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "x-api-key=traces", Traces, &|c, s| {
            let h = c.otlp.resolve(s).unwrap().headers;
            h.0["x-api-key"] == "traces" && !h.0.contains_key("x-team")
        }),
        ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "x-api-key=traces", Metrics, &|c, s| c.otlp.resolve(s).unwrap().headers.0["x-api-key"] == "generic"),
        ("OTEL_EXPORTER_OTLP_LOGS_PROTOCOL", "http/json", Logs, &|c, s| c.otlp.resolve(s).unwrap().protocol == Protocol::HttpJson),
        ("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "grpc", Metrics, &|c, s| {
            let e = c.otlp.resolve(s).unwrap();
            e.protocol == Protocol::Grpc && e.url == "http://c:4318"
        }),
        ("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "grpc", Traces, &|c, s| c.otlp.resolve(s).unwrap().protocol == Protocol::HttpProtobuf),
        ("", "", Logs, &|c, s| c.otlp.resolve(s).unwrap().timeout == Duration::from_millis(7000)),
        ("OTEL_EXPORTER_OTLP_LOGS_TIMEOUT", "250", Logs, &|c, s| c.otlp.resolve(s).unwrap().timeout == Duration::from_millis(250)),
        // OTEL_BSP_EXPORT_TIMEOUT and OTEL_METRIC_EXPORT_TIMEOUT cap a signal's request timeout.
        ("OTEL_BSP_EXPORT_TIMEOUT", "1000", Traces, &|c, s| c.otlp_export(s).unwrap().timeout == Duration::from_millis(1000)),
        ("OTEL_METRIC_EXPORT_TIMEOUT", "2000", Metrics, &|c, s| c.otlp_export(s).unwrap().timeout == Duration::from_millis(2000)),
        ("OTEL_METRIC_EXPORT_TIMEOUT", "2000", Traces, &|c, s| c.otlp_export(s).unwrap().timeout == Duration::from_millis(7000)),
        ("", "", Metrics, &|c, s| c.otlp.resolve(s).unwrap().compression == Compression::Gzip),
        ("OTEL_EXPORTER_OTLP_METRICS_COMPRESSION", "none", Metrics, &|c, s| c.otlp.resolve(s).unwrap().compression == Compression::None),
        ("OTEL_EXPORTER_OTLP_METRICS_COMPRESSION", "none", Traces, &|c, s| c.otlp.resolve(s).unwrap().compression == Compression::Gzip),
    ];
    for (var, value, signal, check) in cases {
        let mut env = base.to_vec();
        if !var.is_empty() {
            env.push((var, value));
        }
        let c = load(&env);
        assert!(
            check(&c, *signal),
            "{var}={value} for {signal:?}: {:?}",
            c.otlp.resolve(*signal)
        );
    }
    for (var, value, allowed) in [
        (
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
            "udp",
            "grpc, http/protobuf, http/json",
        ),
        ("OTEL_EXPORTER_OTLP_COMPRESSION", "zstd", "gzip, none"),
        ("OTEL_EXPORTER_OTLP_METRICS_TIMEOUT", "soon", "an integer"),
        ("OTEL_BSP_EXPORT_TIMEOUT", "0", "an integer from 1"),
    ] {
        let e = error(&[(var, value)]);
        assert!(e.contains(var) && e.contains(allowed), "{e}");
    }
    let e = error(&[("OTEL_EXPORTER_OTLP_LOGS_HEADERS", "x-api-key=s3cr\u{7f}et")]);
    assert!(!e.contains("s3cr") && e.contains("value hidden"), "{e}");
}

#[test]
fn certificates_per_signal_win_and_a_bad_file_names_the_file_and_the_variable() {
    let dir = std::env::temp_dir().join(format!("tasker-otlp-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let generic = dir.join("generic.pem");
    let own = dir.join("own.pem");
    let pem = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    std::fs::write(&generic, pem.cert.pem()).unwrap();
    std::fs::write(&own, pem.cert.pem()).unwrap();
    let key = dir.join("client.key");
    std::fs::write(&key, pem.signing_key.serialize_pem()).unwrap();
    let not_pem = dir.join("not.pem");
    std::fs::write(&not_pem, "hello").unwrap();
    let (g, o, k, n) = (
        generic.to_str().unwrap(),
        own.to_str().unwrap(),
        key.to_str().unwrap(),
        not_pem.to_str().unwrap(),
    );
    let c = load(&[
        (E, "https://c:4318"),
        ("OTEL_EXPORTER_OTLP_CERTIFICATE", g),
        ("OTEL_EXPORTER_OTLP_LOGS_CERTIFICATE", o),
        ("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", g),
        ("OTEL_EXPORTER_OTLP_CLIENT_KEY", k),
    ]);
    let logs = c.otlp.resolve(Logs).unwrap();
    assert_eq!(logs.certificate.as_ref().unwrap().path, own);
    assert!(logs
        .certificate
        .unwrap()
        .setting
        .contains("OTEL_EXPORTER_OTLP_LOGS_CERTIFICATE"));
    let traces = c.otlp.resolve(Traces).unwrap();
    assert_eq!(traces.certificate.unwrap().path, generic);
    assert_eq!(traces.client_key.unwrap().path, key);
    for (var, file, says) in [
        (
            "OTEL_EXPORTER_OTLP_CERTIFICATE",
            "/nonexistent/ca.pem",
            "No such file",
        ),
        (
            "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE",
            n,
            "no PEM certificate",
        ),
        ("OTEL_EXPORTER_OTLP_CLIENT_KEY", g, "no PEM private key"),
        (
            "OTEL_EXPORTER_OTLP_METRICS_CLIENT_CERTIFICATE",
            dir.to_str().unwrap(),
            "not a regular file",
        ),
    ] {
        let e = error(&[(var, file)]);
        assert!(
            e.contains(var) && e.contains(file) && e.contains(says),
            "{e}"
        );
    }
    // The key's contents are never shown, even when it is given where a certificate belongs.
    let e = error(&[("OTEL_EXPORTER_OTLP_CERTIFICATE", k)]);
    assert!(!e.contains("PRIVATE KEY-----\n"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn exporter_variables_choose_what_is_exported_and_refuse_unknown_values() {
    #[rustfmt::skip]
    let cases: &[(Env, [bool; 3])] = &[
        (&[(E, "http://c:4318")], [true, true, false]),
        (&[(E, "http://c:4318"), ("OTEL_LOGS_EXPORTER", "otlp")], [true, true, true]),
        (&[(E, "http://c:4318"), ("OTEL_TRACES_EXPORTER", "none")], [false, true, false]),
        (&[(E, "http://c:4318"), ("OTEL_METRICS_EXPORTER", "console")], [true, false, false]),
        (&[(E, "http://c:4318"), ("OTEL_TRACES_EXPORTER", "otlp,console")], [true, true, false]),
        (&[(E, "http://c:4318"), ("TASKER_EXPORT_LOGS", "true"), ("OTEL_LOGS_EXPORTER", "none")], [true, true, true]),
        (&[("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "http://l:4318/v1/logs"), ("OTEL_LOGS_EXPORTER", "otlp")], [false, false, true]),
    ];
    for (env, expected) in cases {
        let c = load(env);
        let got = [Traces, Metrics, Logs].map(|s| c.otlp_export(s).is_some());
        assert_eq!(&got, expected, "{env:?}");
        assert!(c.exports());
    }
    for value in ["jaeger", "none,otlp", ""] {
        if value.is_empty() {
            continue;
        }
        let e = error(&[("OTEL_TRACES_EXPORTER", value)]);
        assert!(
            e.contains("OTEL_TRACES_EXPORTER") && e.contains("`otlp`, `console` or `none`"),
            "{e}"
        );
    }
    assert!(!load(&[
        (E, "http://c:4318"),
        ("OTEL_TRACES_EXPORTER", "none"),
        ("OTEL_METRICS_EXPORTER", "none")
    ])
    .exports());
}

#[test]
fn a_per_signal_endpoint_alone_starts_export_at_load() {
    for var in [
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
        "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
    ] {
        let env = BTreeMap::from([(var.to_owned(), "http://c:4318/x".to_owned())]);
        assert!(
            tasker_telemetry::foreign::auto_init_requested(&env),
            "{var}"
        );
    }
}

#[test]
fn per_signal_tables_in_toml() {
    let c = TelemetryConfig::from_toml_str(
        r#"
        [telemetry.otlp]
        endpoint = "http://c:4318"
        compression = "gzip"
        [telemetry.otlp.traces]
        endpoint = "https://t:443/v1/traces"
        protocol = "http/json"
        timeout_ms = 1500
        headers = { "x-honeycomb-team" = "key" }
        compression = "none"
        [telemetry.otlp.metrics]
        exporter = "none"
        "#,
    )
    .unwrap();
    let t = c.otlp.resolve(Traces).unwrap();
    assert_eq!(t.url, "https://t:443/v1/traces");
    assert_eq!(t.protocol, Protocol::HttpJson);
    assert_eq!(t.timeout, Duration::from_millis(1500));
    assert_eq!(t.compression, Compression::None);
    assert_eq!(t.headers.0["x-honeycomb-team"], "key");
    assert!(c.otlp_export(Metrics).is_none());
    assert!(
        !format!("{c:?}").contains("\"key\""),
        "header values never in Debug"
    );
}
