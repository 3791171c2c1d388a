//! OpenTelemetry conformance of the samplers and propagators, through the production subscriber
//! stack ([`tasker_telemetry::testing::capture`]).

use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use opentelemetry::Context;
use tasker_telemetry::config::SamplerKind;
use tasker_telemetry::testing::capture;
use tasker_telemetry::TelemetryConfig;

fn config(sampler: SamplerKind, ratio: f64) -> TelemetryConfig {
    let mut c = TelemetryConfig::default();
    c.sampling.sampler = sampler;
    c.sampling.ratio = ratio;
    c
}

/// A remote parent as `traceparent` would bring it, sampled or not.
fn remote_parent(sampled: bool) -> Context {
    let flags = if sampled {
        TraceFlags::SAMPLED
    } else {
        TraceFlags::default()
    };
    Context::new().with_remote_span_context(SpanContext::new(
        TraceId::from(0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736_u128),
        SpanId::from(0x00f0_67aa_0ba9_02b7_u64),
        flags,
        true,
        TraceState::default(),
    ))
}

/// Which of a root span, a child of a sampled remote parent and a child of an unsampled one
/// the sampler records.
fn decisions(sampler: SamplerKind, ratio: f64) -> (bool, bool, bool) {
    let cap = capture(&config(sampler, ratio));
    cap.run(|| {
        tracing::info_span!("root").in_scope(|| {});
        {
            let _g = remote_parent(true).attach();
            tracing::info_span!("child_of_sampled").in_scope(|| {});
        }
        {
            let _g = remote_parent(false).attach();
            tracing::info_span!("child_of_unsampled").in_scope(|| {});
        }
    });
    let child = cap.span("child_of_sampled");
    if let Some(child) = &child {
        assert_eq!(
            child.span_context.trace_id(),
            TraceId::from(0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736_u128),
            "the child continues the remote trace"
        );
    }
    (
        cap.span("root").is_some(),
        child.is_some(),
        cap.span("child_of_unsampled").is_some(),
    )
}

#[test]
fn samplers_decide_as_the_specification_says() {
    use SamplerKind::*;
    // (sampler, ratio, (root, child of sampled remote parent, child of unsampled remote parent))
    let cases = [
        (AlwaysOn, 1.0, (true, true, true)),
        (AlwaysOff, 1.0, (false, false, false)),
        (TraceIdRatio, 1.0, (true, true, true)),
        (TraceIdRatio, 0.0, (false, false, false)),
        (ParentBasedAlwaysOn, 1.0, (true, true, false)),
        // ParentBased(AlwaysOff): drops roots, follows a sampled remote parent.
        (ParentBasedAlwaysOff, 1.0, (false, true, false)),
        (ParentBasedTraceIdRatio, 0.0, (false, true, false)),
        (ParentBasedTraceIdRatio, 1.0, (true, true, false)),
    ];
    for (sampler, ratio, expected) in cases {
        assert_eq!(
            decisions(sampler, ratio),
            expected,
            "{sampler:?} ratio {ratio}"
        );
    }
}

#[test]
fn propagators_decide_what_crosses_processes() {
    use tasker_telemetry::config::Propagator::{Baggage, TraceContext};
    use tasker_telemetry::propagation::{extract, inject_context};

    const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    const BAGGAGE: &str = "correlation_id=0190e7c4-5d2a-7cc0-a7a3-4f1d0c9a0b11,tenant=acme";
    let headers = [("traceparent", TRACEPARENT), ("baggage", BAGGAGE)];
    // Received while both formats were on: the context to inject under each setting.
    let full = extract(headers);
    assert!(full.is_valid() && full.correlation().is_some());

    // (propagators, traceparent crosses, baggage crosses, global propagator's fields)
    let cases: [(&[_], bool, bool, &[&str]); 4] = [
        (
            &[TraceContext, Baggage],
            true,
            true,
            &["traceparent", "tracestate", "baggage"],
        ),
        (&[TraceContext], true, false, &["traceparent", "tracestate"]),
        (&[Baggage], false, true, &["baggage"]),
        (&[], false, false, &[]),
    ];
    for (propagators, trace, baggage, fields) in cases {
        let c = TelemetryConfig {
            propagators: propagators.to_vec(),
            ..TelemetryConfig::default()
        };
        tasker_telemetry::init_logging(&c).unwrap();
        let formats = tasker_telemetry::propagators::enabled();
        assert_eq!((formats.trace_context, formats.baggage), (trace, baggage));

        let out = inject_context(full.context());
        assert_eq!(
            out.contains_key("traceparent"),
            trace,
            "{propagators:?}: {out:?}"
        );
        assert_eq!(
            out.contains_key("baggage"),
            baggage,
            "{propagators:?}: {out:?}"
        );

        let remote = extract(headers);
        assert_eq!(remote.is_valid(), trace, "{propagators:?}");
        assert_eq!(remote.correlation().is_some(), baggage, "{propagators:?}");

        // The composite's fields come in no particular order.
        let mut installed: Vec<String> = opentelemetry::global::get_text_map_propagator(|p| {
            p.fields().map(str::to_owned).collect()
        });
        installed.sort_unstable();
        let mut fields = fields.to_vec();
        fields.sort_unstable();
        assert_eq!(installed, fields, "{propagators:?}");
    }
}
