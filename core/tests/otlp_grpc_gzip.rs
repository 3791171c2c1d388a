//! Real export over OTLP/gRPC with gzip compression to a `rotel-agent` collector.

mod common;
include!("otlp_shared.rs.in");

#[test]
fn spans_metrics_and_logs_reach_the_collector_over_grpc_with_gzip() {
    export_round_trip_with(Protocol::Grpc, |config| {
        config.otlp.compression = tasker_telemetry::config::Compression::Gzip;
    });
}
