//! `N` dynamic spans (the Rust side of a binding span, started, entered, exited and ended)
//! through the bench pipeline, for instruction counts: `valgrind --tool=callgrind
//! target/release/examples/span_loop N`, minus the same with `0` (see `scripts/callgrind.sh`).
//!
//! - `span_loop nested N`: the same spans, not entered, each the child of one outer span;
//! - `span_loop sdk N`: OpenTelemetry SDK spans with the same attributes through the same
//!   processor and exporter, without `tracing` (the floor of a direct recording path that keeps
//!   the SDK's span type);
//! - `span_loop fastrace N`: a dedicated recorder's spans (fastrace, 3 properties, a
//!   discarding reporter, flushed at the end), the floor the issue cites.

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mode = if args.len() > 1 { args[0].as_str() } else { "" };
    let n: u64 = args.last().and_then(|a| a.parse().ok()).unwrap_or(2000);
    if mode == "fastrace" {
        fastrace_spans(n);
        return Ok(());
    }
    let pipeline = tasker_telemetry::testing::BenchPipeline::json()?;
    pipeline.run(|| match mode {
        "nested" => tasker_telemetry::testing::nested_dynamic_spans(n),
        "sdk" => pipeline.sdk_spans(n),
        _ => tasker_telemetry::testing::dynamic_spans(n, true),
    });
    pipeline.flush();
    Ok(())
}

fn fastrace_spans(n: u64) {
    struct Discard;
    impl fastrace::collector::Reporter for Discard {
        fn report(&mut self, spans: Vec<fastrace::collector::SpanRecord>) {
            std::hint::black_box(spans);
        }
    }
    fastrace::set_reporter(Discard, fastrace::collector::Config::default());
    for _ in 0..n {
        let span = fastrace::Span::root("step", fastrace::collector::SpanContext::random())
            .with_properties(|| {
                [
                    ("order_id", "42"),
                    ("namespace", "payments"),
                    ("amount", "12.5"),
                ]
            });
        drop(std::hint::black_box(span));
    }
    fastrace::flush();
}
