//! Real export over OTLP/gRPC to a `rotel-agent` collector, initialised and used from inside
//! an application's own Tokio runtime (the core must neither need nor disturb it).

mod common;
include!("otlp_shared.rs.in");

#[test]
fn spans_and_metrics_reach_the_collector_over_grpc_from_inside_a_tokio_runtime() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async { export_round_trip(Protocol::Grpc) });
}
