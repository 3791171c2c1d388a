#!/usr/bin/env bash
# The demo: the example orchestrator (examples/src/order_fulfillment.rs) runs the
# order_fulfillment workflow with a Rust step, a Ruby handler and two concurrent Python
# handlers in worker processes, as one trace with one correlation id, then draws it as a
# waterfall. Installs what it needs (Debian packages, .venv, the gem and the wheel built from
# this tree). Arguments go to the orchestrator, e.g.
#   bash scripts/demo.sh --mode in-process --fail-step charge_payment
# Without OTEL_EXPORTER_OTLP_ENDPOINT every process writes to target/demo/traces.jsonl (OTLP-JSON);
# with it, they all export to that collector instead. TASKER_LOG_LEVEL=info shows every log line.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/setup.sh
source scripts/setup.sh --python
bash scripts/install-packages.sh
say "building the example orchestrator and the tasker-telemetry CLI"
cargo build -q -p tasker-telemetry-examples -p tasker-telemetry --bins
bin="${CARGO_TARGET_DIR:-$PWD/target}/debug"

gem_home="$PWD/target/ruby-gems"
export GEM_HOME="$gem_home" GEM_PATH="$gem_home:$(env -u GEM_HOME -u GEM_PATH gem env gempath)"
export TASKER_LOG_LEVEL="${TASKER_LOG_LEVEL:-warn}"

say "running order_fulfillment (Rust orchestrator, Ruby and Python workers)"
if [ -n "${OTEL_EXPORTER_OTLP_ENDPOINT:-}" ]; then
  "$bin/order_fulfillment" --python "$VENV/bin/python" "$@"
  echo "exported to $OTEL_EXPORTER_OTLP_ENDPOINT (services orchestrator, ruby-worker, python-worker)"
else
  "$bin/order_fulfillment" --python "$VENV/bin/python" --trace-file target/demo/traces.jsonl --view "$@"
fi
