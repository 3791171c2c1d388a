//! Real export over OTLP/gRPC to a `rotel-agent` collector.

mod common;
include!("otlp_shared.rs.in");

#[test]
fn spans_and_metrics_reach_the_collector_over_grpc() {
    export_round_trip(Protocol::Grpc);
}
