//! Property-based fuzzing (proptest) of what foreign input reaches: W3C header extraction, the
//! configuration parser (TOML, environment variables, overrides), field conversion and the
//! dynamic span/event path. No input may panic or hang; errors name the key; secrets stay
//! hidden. `cargo test` runs a bounded number of cases (`PROPTEST_CASES`, default 256 per
//! property); a long run is `PROPTEST_CASES=20000 cargo test --release -p tasker-telemetry --test fuzz`.

use std::collections::BTreeMap;

use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use opentelemetry::Context;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use tasker_telemetry::config::{LogFormat, SETTINGS};
use tasker_telemetry::dynamic::{self, DynSpan, EventArgs, Parent, SpanStart};
use tasker_telemetry::fields::{self, FieldValue, Fields, Scalar, MAX_NAME_LEN};
use tasker_telemetry::propagation;
use tasker_telemetry::redaction::DEFAULT_REDACT_KEYS;
use tasker_telemetry::testing::capture;
use tasker_telemetry::trace_context::Tracestate;
use tasker_telemetry::{ConfigError, Correlation, Redactor, TelemetryConfig};

/// Room for the `…[truncated N bytes]` marker.
const MARKER: usize = 40;

fn proptest_config(cases_divisor: u32) -> Config {
    let base = Config::default();
    Config {
        cases: (base.cases / cases_divisor).max(16),
        failure_persistence: None,
        ..base
    }
}

fn runner(cases_divisor: u32) -> TestRunner {
    TestRunner::new(proptest_config(cases_divisor))
}

fn hex(n: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(b"0123456789abcdefABCDEF".to_vec()), n)
        .prop_map(|b| String::from_utf8(b).unwrap())
}

/// Strings that are mostly plausible header text, sometimes anything, sometimes long.
fn header_text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[ -~]{0,80}",
        2 => any::<String>(),
        1 => prop::collection::vec(any::<char>(), 0..20_000).prop_map(|c| c.into_iter().collect()),
    ]
}

// --- W3C trace context and baggage ----------------------------------------------------------

proptest! {
    #![proptest_config(proptest_config(1))]

    #[test]
    fn extraction_never_panics_and_valid_means_the_ids_given(
        traceparent in header_text(),
        tracestate in header_text(),
        baggage in header_text(),
        upper in any::<bool>(),
    ) {
        let name = |n: &'static str| if upper { n.to_ascii_uppercase() } else { n.to_owned() };
        let (tp, ts, bg) = (name("traceparent"), name("tracestate"), name("baggage"));
        let remote = propagation::extract([
            (tp.as_str(), traceparent.as_str()),
            (ts.as_str(), tracestate.as_str()),
            (bg.as_str(), baggage.as_str()),
        ]);
        if remote.is_valid() {
            let parts: Vec<&str> = traceparent.trim().split('-').collect();
            let (trace_id, span_id) = (remote.trace_id(), remote.span_id());
            prop_assert_eq!(trace_id.as_deref(), parts.get(1).copied());
            prop_assert_eq!(span_id.as_deref(), parts.get(2).copied());
        }
        if let Some(c) = remote.correlation() {
            prop_assert!(baggage.contains(&c.correlation_id.to_string()) || baggage.contains("correlation_id"));
        }
    }

    #[test]
    fn near_valid_traceparents_follow_the_w3c_rules(
        version in prop_oneof![Just("00".to_owned()), Just("ff".to_owned()), hex(2)],
        trace in prop_oneof![Just("0".repeat(32)), hex(32), hex(31), hex(33)],
        span in prop_oneof![Just("0".repeat(16)), hex(16), hex(15)],
        flags in hex(2),
        suffix in prop_oneof![Just(String::new()), "-[0-9a-z]{0,6}", "[ \t]{1,3}"],
    ) {
        let header = format!("{version}-{trace}-{span}-{flags}{suffix}");
        let remote = propagation::extract([("traceparent", header.as_str())]);
        if remote.is_valid() {
            prop_assert_ne!(version.as_str(), "ff");
            prop_assert_ne!(trace.as_str(), "0".repeat(32));
            prop_assert_ne!(span.as_str(), "0".repeat(16));
            prop_assert_eq!(remote.trace_id(), Some(trace.clone()));
            prop_assert_eq!(remote.span_id(), Some(span.clone()));
        }
        if trace.len() != 32 || span.len() != 16 || trace == "0".repeat(32) || span == "0".repeat(16) {
            prop_assert!(!remote.is_valid(), "{header}");
        }
    }

    #[test]
    fn inject_then_extract_is_the_identity(
        trace in 1u128..,
        span in 1u64..,
        sampled in any::<bool>(),
        namespace in prop::option::of("[A-Za-z0-9_ ./:-]{1,24}"),
        with_task in any::<bool>(),
    ) {
        let sc = SpanContext::new(
            TraceId::from(trace),
            SpanId::from(span),
            if sampled { TraceFlags::SAMPLED } else { TraceFlags::default() },
            true,
            TraceState::default(),
        );
        let mut correlation = Correlation::new();
        if let Some(ns) = &namespace {
            correlation = correlation.with_namespace(ns.clone());
        }
        if with_task {
            correlation = correlation.with_task(uuid::Uuid::now_v7());
        }
        let id = correlation.correlation_id;
        let cx = correlation.into_context(&Context::new().with_remote_span_context(sc));
        let headers = propagation::inject_context(&cx);
        let back = propagation::extract(headers.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        prop_assert!(back.is_valid());
        prop_assert_eq!(back.trace_id(), Some(format!("{:032x}", trace)));
        prop_assert_eq!(back.span_id(), Some(format!("{:016x}", span)));
        let c = back.correlation().expect("correlation travels in baggage");
        prop_assert_eq!(c.correlation_id, id);
        // Surrounding whitespace is not part of a baggage value: it is trimmed at the source.
        let expected = namespace.as_deref().map(str::trim).filter(|n| !n.is_empty());
        prop_assert_eq!(c.namespace.as_deref(), expected);
    }

    #[test]
    fn injected_trace_headers_are_strict_w3c(
        flags in any::<u8>(),
        members in prop::collection::vec(
            (
                prop_oneof![3 => "[a-z][a-z0-9_*/@-]{0,5}", 1 => "[a-z0-9@_*/ A-Z-]{0,6}"],
                prop_oneof![3 => "[!-+\\--<>-~]{1,8}", 1 => "[ -~\r\n\t]{0,8}"],
            ),
            0..36,
        ),
        extra in prop_oneof![Just(String::new()), header_text()],
    ) {
        const TP: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7";
        let traceparent = format!("{TP}-{flags:02x}");
        let tracestate = members
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .chain(std::iter::once(extra))
            .collect::<Vec<_>>()
            .join(",");
        let remote = propagation::extract([
            ("traceparent", traceparent.as_str()),
            ("tracestate", tracestate.as_str()),
        ]);
        let out = propagation::inject_context(remote.context());
        // only the sampled and random flags travel on
        prop_assert_eq!(&out["traceparent"], &format!("{TP}-{:02x}", flags & 0x03));
        if let Some(sent) = out.get("tracestate") {
            prop_assert!(sent.bytes().all(|b| (0x20..=0x7e).contains(&b)), "{:?}", sent);
            prop_assert!(sent.split(',').count() <= 32);
            let back = Tracestate::parse(sent).map(|t| t.header());
            prop_assert_eq!(back.as_deref(), Ok(sent.as_str()));
        }
    }

    #[test]
    fn baggage_of_any_shape_never_panics(
        entries in prop::collection::vec(("[ -~]{0,12}", "[ -~]{0,40}", any::<bool>()), 0..40),
    ) {
        let baggage = entries
            .iter()
            .map(|(k, v, prop)| if *prop { format!("{k}={v};p=1") } else { format!("{k}={v}") })
            .collect::<Vec<_>>()
            .join(",");
        let remote = propagation::extract([("baggage", baggage.as_str())]);
        if let Some(c) = remote.correlation() {
            prop_assert!(baggage.contains(&c.correlation_id.to_string()));
        }
    }
}

// --- configuration ---------------------------------------------------------------------------

fn toml_value() -> impl Strategy<Value = String> {
    let scalar = prop_oneof![
        any::<i64>().prop_map(|i| i.to_string()),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| format!("{f:?}")),
        any::<bool>().prop_map(|b| b.to_string()),
        any::<String>().prop_map(|s| toml::Value::String(s).to_string()),
        "[a-z/_.:0-9-]{0,20}".prop_map(|s| toml::Value::String(s).to_string()),
    ];
    prop_oneof![
        6 => scalar.clone(),
        1 => prop::collection::vec(scalar.clone(), 0..4).prop_map(|v| format!("[{}]", v.join(", "))),
        1 => prop::collection::vec(("[a-z]{1,6}", scalar), 0..3).prop_map(|v| {
            format!("{{ {} }}", v.iter().map(|(k, x)| format!("{k} = {x}")).collect::<Vec<_>>().join(", "))
        }),
    ]
}

fn known_key() -> impl Strategy<Value = (String, String)> {
    prop::sample::select(SETTINGS.iter().map(|s| s.key).collect::<Vec<_>>()).prop_map(|key| {
        let (section, leaf) = key.rsplit_once('.').unwrap_or(("telemetry", key));
        (section.to_owned(), leaf.to_owned())
    })
}

proptest! {
    #![proptest_config(proptest_config(1))]

    #[test]
    fn any_toml_document_parses_or_fails_with_a_message(text in any::<String>()) {
        match TelemetryConfig::from_toml_str(&text) {
            Ok(_) => {}
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
    }

    #[test]
    fn every_key_with_any_value_is_accepted_or_names_the_key(
        (section, leaf) in known_key(),
        value in toml_value(),
    ) {
        let doc = format!("[{section}]\n{leaf} = {value}\n");
        match TelemetryConfig::from_toml_str(&doc) {
            Ok(_) => {}
            Err(ConfigError::InvalidValue { key, allowed, .. }) => {
                prop_assert_eq!(key, format!("{section}.{leaf}"));
                prop_assert!(!allowed.is_empty());
            }
            Err(ConfigError::Parse { .. }) => {}
            Err(other) => prop_assert!(false, "{doc}: unexpected {other}"),
        }
    }

    #[test]
    fn unknown_keys_are_named(leaf in "[a-z_]{1,20}", value in toml_value()) {
        prop_assume!(!SETTINGS.iter().any(|s| s.key.ends_with(&format!(".{leaf}"))));
        let doc = format!("[telemetry.otlp]\n{leaf} = {value}\n");
        if let Err(ConfigError::UnknownKey { key, .. }) = TelemetryConfig::from_toml_str(&doc) {
            // A table value is a section: its first key is named, under the unknown one.
            prop_assert!(key.starts_with(&format!("telemetry.otlp.{leaf}")), "{}", key);
        }
    }

    #[test]
    fn every_environment_variable_with_any_value_is_accepted_or_named(
        setting in prop::sample::select(SETTINGS.iter().filter(|s| !s.env.is_empty()).collect::<Vec<_>>()),
        value in prop_oneof![any::<String>(), "[ -~]{0,30}", "-?[0-9]{1,22}"],
    ) {
        let var = setting.env[0];
        let secret = setting.key == "telemetry.otlp.headers";
        // Header names may be named in errors; the marker goes into a value only.
        let value = if secret {
            format!("x-key=SECRET{}", value.replace([',', '='], ""))
        } else {
            value
        };
        let env = BTreeMap::from([(var.to_owned(), value.clone())]);
        match TelemetryConfig::load_from(None, &env) {
            Ok(_) => {}
            Err(e) => {
                let message = e.to_string();
                prop_assert!(message.contains(var), "{message}");
                prop_assert!(message.contains(setting.key), "{message}");
                prop_assert!(message.contains("expected"), "{message}");
                if secret {
                    prop_assert!(!message.contains("SECRET"), "a header value was printed: {message}");
                }
            }
        }
    }

    #[test]
    fn overrides_of_any_key_and_value_never_panic(key in any::<String>(), value in any::<String>()) {
        let mut c = TelemetryConfig::default();
        if let Err(ConfigError::UnknownKey { key: named, .. }) = c.set(&key, &value) {
            prop_assert_eq!(named, key);
        }
    }
}

// --- field conversion and the dynamic path ---------------------------------------------------

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => "[a-z_.]{0,12}",
        2 => any::<String>(),
        1 => prop::sample::select(DEFAULT_REDACT_KEYS.to_vec()).prop_map(str::to_owned),
        1 => "[A-Za-z]{0,4}(PASSWORD|Token|api_key)[a-z]{0,4}",
        1 => prop::collection::vec(any::<char>(), 200..600).prop_map(|c| c.into_iter().collect()),
    ]
}

fn field_value() -> impl Strategy<Value = FieldValue> {
    let leaf = prop_oneof![
        any::<String>().prop_map(FieldValue::Str),
        prop::collection::vec(any::<char>(), 0..12_000)
            .prop_map(|c| FieldValue::Str(c.into_iter().collect())),
        any::<i64>().prop_map(FieldValue::Int),
        any::<f64>().prop_map(FieldValue::Float),
        any::<bool>().prop_map(FieldValue::Bool),
        Just(FieldValue::Null),
    ];
    leaf.prop_recursive(14, 200, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(FieldValue::List),
            prop::collection::vec((key(), inner), 0..6).prop_map(FieldValue::Map),
        ]
    })
}

/// Object keys inside a JSON value whose value is not redacted although the key is secret.
fn unredacted(json: &serde_json::Value, redactor: &Redactor) -> Vec<String> {
    match json {
        serde_json::Value::Object(map) => map
            .iter()
            .flat_map(|(k, v)| {
                if redactor.is_secret(k) {
                    if v == &serde_json::Value::from("[REDACTED]") {
                        Vec::new()
                    } else {
                        vec![k.clone()]
                    }
                } else {
                    unredacted(v, redactor)
                }
            })
            .collect(),
        serde_json::Value::Array(items) => {
            items.iter().flat_map(|v| unredacted(v, redactor)).collect()
        }
        _ => Vec::new(),
    }
}

#[test]
fn any_field_tree_converts_with_bounded_keys_and_values_and_no_secret_in_its_json() {
    let redactor = Redactor::default();
    let strategy = prop::collection::vec((key(), field_value()), 0..6);
    runner(2)
        .run(&strategy, |entries| {
            let mut f = Fields::new();
            for (k, v) in entries {
                f.insert(k, v);
            }
            let mut seen = std::collections::HashSet::new();
            for (k, v) in f.iter() {
                prop_assert!(seen.insert(k.to_owned()), "duplicate key {k}");
                prop_assert!(k.len() <= MAX_NAME_LEN + MARKER, "key of {} bytes", k.len());
                if let Scalar::Str(s) = v {
                    prop_assert!(
                        s.len() <= fields::max_value_len() + MARKER,
                        "value of {} bytes",
                        s.len()
                    );
                    if let Ok(json) = serde_json::from_str::<serde_json::Value>(s) {
                        let leaks = unredacted(&json, &redactor);
                        prop_assert!(leaks.is_empty(), "secret keys {leaks:?} in {s}");
                    }
                }
            }
            let json = f.to_json().to_string();
            let back: serde_json::Value = serde_json::from_str(&json).expect("valid JSON");
            prop_assert!(unredacted(&back, &redactor).is_empty());
            Ok(())
        })
        .unwrap();
}

#[test]
fn redaction_matches_long_patterns_anywhere_and_short_ones_as_words() {
    let strategy = (
        "[a-z0-9_.]{0,10}",
        prop::sample::select(DEFAULT_REDACT_KEYS.to_vec()),
        "[a-z0-9_.]{0,10}",
        prop::collection::vec(any::<bool>(), 16),
    );
    runner(1)
        .run(&strategy, |(pre, pattern, post, upper)| {
            let mixed: String = pattern
                .chars()
                .zip(upper.iter().cycle())
                .map(|(c, u)| if *u { c.to_ascii_uppercase() } else { c })
                .collect();
            // Long patterns match anywhere, in any case; short ones (`ssn`, `jwt`) as a whole
            // word in one case (`x_SSN_y`, not `lessons`).
            let key = if pattern.len() > 4 {
                format!("{pre}{mixed}{post}")
            } else if upper[0] {
                format!("{pre}_{}.{post}", pattern.to_ascii_uppercase())
            } else {
                format!("{pre}-{pattern}_{post}")
            };
            prop_assert!(Redactor::default().is_secret(&key), "{}", key);
            // and with separators or camelCase between its parts
            let spaced = pattern.replace('_', "-");
            prop_assert!(Redactor::default().is_secret(&spaced), "{}", spaced);
            Ok(())
        })
        .unwrap();
}

#[test]
fn foreign_spans_and_events_with_any_name_and_fields_never_panic_and_print_json() {
    let mut config = TelemetryConfig::default();
    config.logging.format = LogFormat::Json;
    config.logging.level = "trace".into();
    let cap = capture(&config);
    let strategy = (
        header_text(),
        header_text(),
        prop::collection::vec((key(), field_value()), 0..4),
        0u8..5,
    );
    let mut printed = 0usize;
    runner(4)
        .run(&strategy, |(name, message, entries, level)| {
            let fields: Fields = entries.into_iter().collect();
            let level = tasker_telemetry::level::level_from_index(level).unwrap();
            cap.run(|| {
                let span = DynSpan::start(SpanStart {
                    name: &name,
                    level,
                    target: &name,
                    fields: &fields,
                    parent: Parent::Current,
                    correlation: None,
                });
                dynamic::event(EventArgs {
                    level,
                    target: "fuzz",
                    message: &message,
                    fields: &fields,
                    parent: Parent::Span(&span),
                    correlation: None,
                });
                for (k, v) in fields.iter() {
                    span.set(k, v);
                }
                span.add_event(&message, &fields);
                span.record_exception(&name, &message, Some(&message));
            });
            Ok(())
        })
        .unwrap();
    for line in cap.lines() {
        let parsed: serde_json::Value =
            serde_json::from_str(&line).expect("every console line is JSON");
        assert!(parsed.is_object(), "{line}");
        printed += 1;
    }
    assert!(printed > 0);
    let cases = proptest_config(1).cases;
    println!(
        "FIGURES {}",
        serde_json::json!({
            "test": "fuzz (proptest)",
            "lang": "rust",
            "load": format!("{cases} cases per property (PROPTEST_CASES); {} for the dynamic path", proptest_config(4).cases),
            "faults": "-",
            "bad_inputs": "traceparent/tracestate/baggage of any text, near-valid traceparents, TOML documents, every key and env variable with any value, overrides, field trees (unicode, 12 KB strings, NaN, 14 levels), span/event names",
            "lost": 0,
            "console_lines_checked": printed,
            "spans": cap.spans().len(),
        })
    );
}
