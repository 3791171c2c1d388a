#!/usr/bin/env bash
# The cross-language tests (tests/): the example orchestrator with its Ruby and Python workers,
# against a real rotel-agent collector, using the gem and the wheel installed from this tree
# (scripts/install-packages.sh; a no-op when test-ruby.sh and test-python.sh just installed
# them). Ends with "integration: N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/setup.sh
source scripts/setup.sh --python
root="$(pwd)"

bash scripts/install-packages.sh
say "building the example orchestrator and the tasker-telemetry CLI"
cargo build -q -p tasker-telemetry-examples -p tasker-telemetry --bins

gem_home="$root/target/ruby-gems"
export TASKER_TEST_GEM_HOME="$gem_home"
export TASKER_TEST_GEM_PATH="$gem_home:$(env -u GEM_HOME -u GEM_PATH gem env gempath)"
export TASKER_TEST_PYTHON="$VENV/bin/python"
export TASKER_TEST_BIN_DIR="${CARGO_TARGET_DIR:-$root/target}/debug"
export ROTEL_AGENT

say "pytest tests/"
log="$root/target/integration-pytest.log"
set +e
(cd tests && "$VENV/bin/python" -m pytest -p no:cacheprovider -q -rfE "$@" . 2>&1) | tee "$log"
rc=${PIPESTATUS[0]}
set -e
pytest_summary integration "$log" "$rc"
