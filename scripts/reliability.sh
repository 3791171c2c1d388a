#!/usr/bin/env bash
# Reliability figures: runs the fault, fuzz, bad-input, load, soak and security tests and writes
# tests/RELIABILITY.md from the figures they record.
#   bash scripts/reliability.sh          the sizes of the test command (a few minutes)
#   bash scripts/reliability.sh --full   the long run: the 1,000,000-span soak per language,
#                                        100,000 spans while the collector is down, 20,000
#                                        proptest cases per property, release builds throughout
# The test command (scripts/test.sh) runs the same tests with the bounded sizes.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/setup.sh
source scripts/setup.sh --python
root="$(pwd)"
full=0
[ "${1:-}" = "--full" ] && full=1

figures="$root/target/reliability/figures.jsonl"
mkdir -p "$root/target/reliability"
rm -f "$figures"
export TASKER_FIGURES_FILE="$figures"

bash scripts/install-packages.sh

cargo_profile=()
bin_dir="${CARGO_TARGET_DIR:-$root/target}/debug"
if [ "$full" = 1 ]; then
  export TASKER_RELIABILITY_FULL=1 PROPTEST_CASES="${PROPTEST_CASES:-20000}"
  cargo_profile=(--release)
  bin_dir="${CARGO_TARGET_DIR:-$root/target}/release"
fi

say "building the reliability probe"
cargo build -q "${cargo_profile[@]}" -p tasker-telemetry-examples --bin reliability_probe

say "core: faults (collector down, hung, exit) and fuzz"
cargo test -q "${cargo_profile[@]}" -p tasker-telemetry --test faults --test fuzz -- --nocapture --test-threads=1 \
  2>&1 | tee "$root/target/reliability/core.log"
grep -o 'FIGURES {.*' "$root/target/reliability/core.log" | sed 's/^FIGURES //' >>"$figures"

say "bad input: Python and Ruby"
(cd python/tests && "$VENV/bin/python" -m pytest -p no:cacheprovider -q test_bad_input.py)
gem_home="$root/target/ruby-gems"
gem_path="$gem_home:$(env -u GEM_HOME -u GEM_PATH gem env gempath)"
(cd ruby && GEM_HOME="$gem_home" GEM_PATH="$gem_path" ROTEL_AGENT="$ROTEL_AGENT" ruby -Itest test/bad_input_test.rb)

say "cross-language: tests/reliability"
(cd tests && TASKER_TEST_GEM_HOME="$gem_home" TASKER_TEST_GEM_PATH="$gem_path" TASKER_TEST_PYTHON="$VENV/bin/python" \
  TASKER_TEST_BIN_DIR="$bin_dir" ROTEL_AGENT="$ROTEL_AGENT" \
  "$VENV/bin/python" -m pytest -p no:cacheprovider -q -rfE reliability)

say "tests/RELIABILITY.md"
"$VENV/bin/python" tests/reliability/report.py "$figures" tests/RELIABILITY.md \
  --command "bash scripts/reliability.sh${1:+ $1}"
