//! Real export over OTLP/HTTP (protobuf) to a `rotel-agent` collector.

mod common;
include!("otlp_shared.rs.in");

#[test]
fn spans_and_metrics_reach_the_collector_over_http_protobuf() {
    export_round_trip(Protocol::HttpProtobuf);
}
