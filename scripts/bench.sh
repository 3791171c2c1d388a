#!/usr/bin/env bash
# The overhead report: runs the Rust (criterion), Ruby and Python benchmarks on this machine and
# writes benches/REPORT.md and benches/report.json (see benches/README.md).
#
#   bash scripts/bench.sh             full run (~6 minutes, plus the release builds the first
#                                     time): first installs the gem (into target/ruby-gems) and
#                                     the wheel (into .venv) from this tree with
#                                     scripts/install-packages.sh; ends with the instruction
#                                     counts of scripts/callgrind.sh (valgrind)
#   bash scripts/bench.sh --installed full run against the gem and wheel already installed
#   bash scripts/bench.sh --smoke     a few iterations of everything, report in target/bench-smoke/
#                                     (what scripts/test.sh runs, after the package tests installed
#                                     the gem and the wheel)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/setup.sh
source scripts/setup.sh --python
root="$(pwd)"
PY="$VENV/bin/python"

mode=full
install=yes
case "${1:-}" in
  --smoke) mode=smoke; install=no ;;
  --installed) install=no ;;
  "") ;;
  *) echo "usage: bash scripts/bench.sh [--smoke|--installed]" >&2; exit 2 ;;
esac

gem_home="$root/target/ruby-gems"
default_gem_path="$(env -u GEM_HOME -u GEM_PATH gem env gempath)"
if [ "$install" = yes ]; then
  # The gem into target/ruby-gems and the wheel into .venv, release builds of this tree (a no-op
  # when they are up to date); opentelemetry-sdk comes with python/requirements-test.txt.
  bash scripts/install-packages.sh
fi
GEM_HOME="$gem_home" GEM_PATH="$gem_home:$default_gem_path" ruby -rtasker_core/tracing -e 'TaskerCore::Tracing::Native._bench_pipeline' ||
  { echo "the gem is not installed in $gem_home: run bash scripts/test-ruby.sh or bash scripts/bench.sh" >&2; exit 1; }
"$PY" -c 'import opentelemetry.sdk; from tasker_core import _native; _native._BenchPipeline' ||
  { echo "the wheel or opentelemetry-sdk is missing from .venv: run bash scripts/test-python.sh or bash scripts/bench.sh" >&2; exit 1; }

if [ "$mode" = smoke ]; then
  out="$root/target/bench-smoke"
  criterion_args=(--warm-up-time 0.01 --measurement-time 0.02 --sample-size 10)
  lang_args=(--smoke)
else
  out="$root/benches"
  criterion_args=(--warm-up-time 1 --measurement-time 3)
  lang_args=()
fi
work="$root/target/bench-run"
rm -rf "$work"
mkdir -p "$work" "$out"
export CRITERION_HOME="$work/criterion"

say "Rust: cargo bench (criterion)"
cargo bench -q -p tasker-telemetry-benches --bench core -- "${criterion_args[@]}" >"$work/criterion.log" 2>&1 ||
  { cat "$work/criterion.log" >&2; echo "cargo bench failed" >&2; exit 1; }
grep -E 'time:' -B1 "$work/criterion.log" | grep -vE '^--$|^Benchmarking' || true

say "Ruby: benches/ruby/bench.rb (installed gem)"
GEM_HOME="$gem_home" GEM_PATH="$gem_home:$default_gem_path" \
  ruby benches/ruby/bench.rb "${lang_args[@]}" --out "$work/ruby.json"

say "Python: benches/python/bench.py (installed wheel)"
"$PY" benches/python/bench.py "${lang_args[@]}" --out "$work/python.json"

counted=()
if [ "$mode" = full ]; then
  say "instruction counts: scripts/callgrind.sh (valgrind)"
  bash scripts/callgrind.sh --out "$work/callgrind.json"
  counted=(--callgrind "$work/callgrind.json")
else
  say "instruction-count harness: scripts/callgrind.sh --smoke (no valgrind)"
  bash scripts/callgrind.sh --smoke
fi

say "report"
smoke_flag=()
[ "$mode" = smoke ] && smoke_flag=(--smoke)
python3 benches/report.py --criterion "$CRITERION_HOME" --ruby "$work/ruby.json" --python "$work/python.json" \
  --md "$out/REPORT.md" --json "$out/report.json" "${smoke_flag[@]}" "${counted[@]}"
