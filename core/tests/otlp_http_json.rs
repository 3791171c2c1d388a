//! Real export over OTLP/HTTP with JSON bodies (`http/json`) and gzip compression to a
//! `rotel-agent` collector; gRPC with gzip is in `otlp_grpc_gzip.rs`.

mod common;
include!("otlp_shared.rs.in");

#[test]
fn spans_metrics_and_logs_reach_the_collector_over_http_json_with_gzip() {
    export_round_trip_with(Protocol::HttpJson, |config| {
        config.otlp.compression = tasker_telemetry::config::Compression::Gzip;
    });
}
