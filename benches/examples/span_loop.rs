//! `N` dynamic spans (the Rust side of a binding span, started, entered, exited and ended)
//! through the bench pipeline, for instruction counts: `valgrind --tool=callgrind
//! target/release/examples/span_loop N`, minus the same with `0` (see `scripts/callgrind.sh`).
//! `span_loop nested N`: the same spans, not entered, each the child of one outer span.

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let nested = args.first().is_some_and(|a| a == "nested");
    let n: u64 = args.last().and_then(|a| a.parse().ok()).unwrap_or(2000);
    let pipeline = tasker_telemetry::testing::BenchPipeline::json()?;
    pipeline.run(|| {
        if nested {
            tasker_telemetry::testing::nested_dynamic_spans(n)
        } else {
            tasker_telemetry::testing::dynamic_spans(n, true)
        }
    });
    pipeline.flush();
    Ok(())
}
