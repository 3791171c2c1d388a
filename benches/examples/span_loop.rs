//! `N` dynamic spans (the Rust side of a binding span) through the bench pipeline, for
//! instruction counts: `valgrind --tool=callgrind target/release/examples/span_loop N`, minus the
//! same with `0` (see `scripts/callgrind.sh`).

fn main() -> std::io::Result<()> {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(5000);
    let pipeline = tasker_telemetry::testing::BenchPipeline::json()?;
    pipeline.run(|| tasker_telemetry::testing::dynamic_spans(n, true));
    pipeline.flush();
    Ok(())
}
