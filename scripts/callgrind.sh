#!/usr/bin/env bash
# Instructions per operation, counted by valgrind's callgrind (all threads, the exporter's
# included): each case runs N times in a fresh process and once with 0, and the difference is
# divided by N. Unlike wall-clock times, the counts repeat to about 0.1% on a busy machine, so
# they show the cost of a change that the shared machine's noise would hide.
#
#   bash scripts/callgrind.sh [--out FILE] [--n N]   (run by scripts/bench.sh; needs the gem and
#                                                    the wheel installed, as bench.sh does)
#   bash scripts/callgrind.sh --smoke                 every case 3 times without valgrind (what
#                                                    bench.sh --smoke runs: the harness works)
#
# Cases: the Rust side of a binding span (benches/examples/span_loop.rs; also not entered and
# under one outer span, `span_loop_nested`), the floors of a direct path (an SDK span through
# the same processor and exporter without `tracing`, `sdk_span_loop`; a fastrace span,
# `fastrace_span_loop`), and in Ruby and
# Python the span with 3 fields, the OpenTelemetry-API span through the bridge, the official
# SDK's span, and a no-op method called with the same arguments (the floor), all from the
# benches' own cases (bench.rb/bench.py --count).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/setup.sh
source scripts/setup.sh --python
root="$(pwd)"
out="$root/target/bench-run/callgrind.json"
n=2000
smoke=no
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out="$2"; shift 2 ;;
    --n) n="$2"; shift 2 ;;
    --smoke) smoke=yes; n=3; shift ;;
    *) echo "usage: bash scripts/callgrind.sh [--out FILE] [--n N] [--smoke]" >&2; exit 2 ;;
  esac
done
[ "$smoke" = yes ] || apt_need valgrind
mkdir -p "$(dirname "$out")"
work="$root/target/callgrind"
rm -rf "$work"
mkdir -p "$work"
gem_home="$root/target/ruby-gems"
default_gem_path="$(env -u GEM_HOME -u GEM_PATH gem env gempath)"

cargo build -q --release -p tasker-telemetry-benches --example span_loop
span_loop="${CARGO_TARGET_DIR:-$root/target}/release/examples/span_loop"

# instructions LABEL COMMAND...: the total instruction count of one run.
instructions() {
  local label="$1"
  shift
  if [ "$smoke" = yes ]; then
    "$@" >"$work/$label.log" 2>&1 || { cat "$work/$label.log" >&2; echo "failed: $label" >&2; return 1; }
    echo 0
    return 0
  fi
  valgrind --tool=callgrind --callgrind-out-file="$work/$label.out" "$@" >"$work/$label.log" 2>&1 ||
    { cat "$work/$label.log" >&2; echo "callgrind failed: $label" >&2; return 1; }
  sed -n 's/^.*Collected : \([0-9]*\)$/\1/p' "$work/$label.log" | tail -n1
}

results=()
# count LANGUAGE CASE COMMAND...: COMMAND takes N as its last argument.
count() {
  local language="$1" case_id="$2"
  shift 2
  local empty full
  empty="$(instructions "$language-$case_id-0" "$@" 0)"
  full="$(instructions "$language-$case_id-$n" "$@" "$n")"
  [ "$smoke" = yes ] && { printf '%-8s %-26s ran\n' "$language" "$case_id" >&2; return 0; }
  printf '%-8s %-26s %10d instructions per operation\n' "$language" "$case_id" $(((full - empty) / n)) >&2
  results+=("{\"language\": \"$language\", \"id\": \"$case_id\", \"n\": $n, \"empty\": $empty, \"total\": $full}")
}

count rust span_loop "$span_loop"
count rust span_loop_nested "$span_loop" nested
count rust sdk_span_loop "$span_loop" sdk
count rust fastrace_span_loop "$span_loop" fastrace
# (valgrind does not follow exec: the gem's paths go in through the environment, not `env`)
export GEM_HOME="$gem_home" GEM_PATH="$gem_home:$default_gem_path"
for c in noop_method_same_args span_exported_3_fields otel_bridge_span otel_sdk_span; do
  count ruby "$c" "$(command -v ruby)" benches/ruby/bench.rb --count "$c"
done
for c in noop_function_same_args span_exported_3_fields otel_bridge_span otel_sdk_span; do
  count python "$c" "$VENV/bin/python" benches/python/bench.py --count "$c"
done

[ "$smoke" = yes ] && exit 0
{
  printf '{"tool": "%s", "cases": [\n' "$(valgrind --version)"
  (IFS=','; printf '%s\n' "${results[*]}" | sed 's/},{/},\n{/g')
  printf ']}\n'
} >"$out"
echo "wrote $out" >&2
