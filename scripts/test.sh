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

say "summary"
echo "rust: ${rust_passed} passed, 0 failed"
