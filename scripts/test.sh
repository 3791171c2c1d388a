#!/usr/bin/env bash
# Runs every test on a fresh Debian machine: installs what is missing (Debian packages, the
# Python test tools with the rotel OTLP collector), then lint, Rust tests (unit, doc, and
# export to a real collector). Called by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/setup.sh
source scripts/setup.sh --python

say "cargo fmt --check"
cargo fmt --all -- --check

say "cargo clippy (warnings are errors)"
cargo clippy --workspace --all-targets -q -- -D warnings

say "Rust tests (core, examples, benches; OTLP export to rotel-agent at $ROTEL_AGENT)"
mkdir -p target
set +e
cargo test --workspace -q 2>&1 | tee target/rust-tests.log
rc=${PIPESTATUS[0]}
set -e
[ "$rc" -eq 0 ] || { echo "Rust tests failed (exit $rc)" >&2; exit "$rc"; }
rust_passed=$(grep -oE 'test result: ok\. [0-9]+ passed' target/rust-tests.log | awk '{s+=$4} END {print s+0}')

# The gem and the Python package: each script builds and installs its package from this tree
# and runs its tests against the installed copy; then the cross-language tests (tests/) use
# both. Each prints a "<name>: N passed, N failed" line.
summary=("rust: ${rust_passed} passed, 0 failed")
for lang in ruby python integration; do
  if [ -f "scripts/test-$lang.sh" ]; then
    say "$lang package tests"
    bash "scripts/test-$lang.sh" 2>&1 | tee "target/$lang-tests.log"
    rc=${PIPESTATUS[0]}
    [ "$rc" -eq 0 ] || { echo "$lang tests failed (exit $rc)" >&2; exit "$rc"; }
    summary+=("$(grep -E "^$lang: [0-9]+ passed" "target/$lang-tests.log" | tail -n1)")
  fi
  if [ "$lang" = python ]; then export TASKER_PACKAGES_INSTALLED=1; fi  # both packages installed now
done

say "benchmark smoke run (scripts/bench.sh --smoke: a few iterations of every Rust, Ruby and Python benchmark and the report; the full run is bash scripts/bench.sh)"
bash scripts/bench.sh --smoke

say "summary"
printf '%s\n' "${summary[@]}"
