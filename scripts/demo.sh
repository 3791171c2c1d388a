#!/usr/bin/env bash
# The demo: a small orchestrator trace (task > steps > a handler span as a Ruby/Python handler
# would create it) with one correlation id, printed on the console. Set
# OTEL_EXPORTER_OTLP_ENDPOINT to also send it to a collector, TASKER_LOG_FORMAT=json for JSON.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/setup.sh
source scripts/setup.sh
say "building and running examples/src/nested_trace.rs"
cargo run -q -p tasker-telemetry-examples --bin nested_trace
