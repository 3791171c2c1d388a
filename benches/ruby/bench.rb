# frozen_string_literal: true

# Ruby side of the overhead report (run by scripts/bench.sh; see benches/README.md):
# TaskerCore::Tracing calls and their native baselines, measured in one process, in the same
# rounds, against the core's benchmark pipeline (JSON lines to /dev/null, spans through a batch
# processor to an exporter that discards, an SDK meter).
#
#   ruby benches/ruby/bench.rb [--smoke] [--out FILE]
#   ruby benches/ruby/bench.rb --count CASE N   (runs CASE N times once, for callgrind)
#
# The OpenTelemetry cases (the official SDK's span, and an OpenTelemetry-API span through the
# gem's bridge) load the opentelemetry-api and -sdk gems from the vendored sources
# (../shared/vendor/otel-ruby-src.tar.gz, or OTEL_RUBY_SRC), extracted to a temporary folder;
# without them those cases are left out.
#
# Method: each case is compiled into a `while` loop. Its batch size is calibrated to about
# BATCH_MS; then ROUNDS rounds run one batch of every case, in a new random order each round
# (fixed seed), so that the machine's noise is spread over all cases alike. A batch gives one ns/op sample (batch time /
# iterations, minus the empty loop's median ns/op); median and p99 are taken over the samples.
# GC stays on: what a call allocates is paid (partly later) inside the rounds. The handler cases
# run in rounds of their own, after the others.

require "json"
require "logger"
require "time"
require "rbconfig"
require "tmpdir"
require "fileutils"

# The vendored OpenTelemetry gems on the load path before the gem is required, so that the gem's
# start-up installs its OpenTelemetry API bridge (telemetry.opentelemetry_bridge = auto).
OTEL_SRC = ENV.fetch("OTEL_RUBY_SRC") { File.expand_path("../../../shared/vendor/otel-ruby-src.tar.gz", __dir__) }
if File.file?(OTEL_SRC)
  otel_dir = Dir.mktmpdir("otel-ruby-src")
  at_exit { FileUtils.rm_rf(otel_dir) }
  system("tar", "-xzf", OTEL_SRC, "-C", otel_dir, exception: true)
  %w[api sdk common registry semantic_conventions].each do |gem|
    $LOAD_PATH.unshift(File.join(otel_dir, "otel-ruby-src", gem, "lib"))
  end
end

require "tasker_core/tracing"

if File.file?(OTEL_SRC)
  require "opentelemetry/sdk"
  abort "the OpenTelemetry API bridge was not installed at start-up" unless TaskerCore::Tracing::OpenTelemetryBridge.installed?

  # The baseline: the official SDK's tracer, from a TracerProvider of its own (the global one is the
  # bridge's), with a batch processor to an exporter that discards (as the core's bench pipeline).
  class DiscardingExporter
    def export(_spans, timeout: nil) = OpenTelemetry::SDK::Trace::Export::SUCCESS
    def force_flush(timeout: nil) = OpenTelemetry::SDK::Trace::Export::SUCCESS
    def shutdown(timeout: nil) = OpenTelemetry::SDK::Trace::Export::SUCCESS
  end
  SDK_PROVIDER = OpenTelemetry::SDK::Trace::TracerProvider.new
  SDK_PROVIDER.add_span_processor(OpenTelemetry::SDK::Trace::Export::BatchSpanProcessor.new(DiscardingExporter.new))
  SDK_TRACER = SDK_PROVIDER.tracer("bench", "1.0")
  BRIDGE_TRACER = OpenTelemetry.tracer_provider.tracer("bench", "1.0")
  OTEL_SDK_VERSION = OpenTelemetry::SDK::VERSION
end

smoke = ARGV.include?("--smoke")
out = ARGV.each_cons(2).find { |a, _| a == "--out" }&.last
count = ARGV.include?("--count") ? ARGV[ARGV.index("--count") + 1, 2] : nil
ROUNDS = smoke ? 3 : Integer(ENV.fetch("BENCH_ROUNDS", 250))
BATCH_MS = smoke ? 0.2 : Float(ENV.fetch("BENCH_BATCH_MS", 2.0))

T = TaskerCore::Tracing
N = TaskerCore::Tracing::Native

# --- what is measured ------------------------------------------------------------------------

# The trivial step handler whose framework overhead is measured.
class SumHandler
  def call(numbers) = numbers.sum
end
HANDLER = SumHandler.new
NUMBERS = (1..100).to_a.freeze
STEP_CONTEXT = {
  "correlation_id" => "0190a8f0-7a2b-7c3d-8e4f-5a6b7c8d9e0f",
  "task_uuid" => "0190a8f0-7a2b-7c3d-8e4f-5a6b7c8d9e10",
  "step_uuid" => "0190a8f0-7a2b-7c3d-8e4f-5a6b7c8d9e11",
  "namespace" => "bench",
  "task_name" => "sum_numbers",
  "step_name" => "sum",
  "attempt" => "1"
}.freeze

def noop = nil
def noop_args(_message, **_fields) = nil

# Stdlib Logger with a JSON formatter writing the same line as the core (timestamp, level,
# target, message, fields) to an opened /dev/null (File::NULL would skip formatting).
JSON_FORMATTER = proc do |severity, time, progname, msg|
  fields = msg.dup
  message = fields.delete(:message)
  JSON.generate({ timestamp: time.utc.iso8601(6), level: severity, target: progname, message: message,
                  fields: fields }) << "\n"
end
NATIVE_LOGGER = Logger.new(File.open("/dev/null", "w"), progname: "ruby", formatter: JSON_FORMATTER)

def framework_step(headers)
  T.with_remote_context(headers) do
    T.handler_span("SumHandler", STEP_CONTEXT) do
      started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
      result = HANDLER.call(NUMBERS)
      ms = (Process.clock_gettime(Process::CLOCK_MONOTONIC) - started) * 1000.0
      T.info("step completed", result: result)
      T.counter("tasker_steps_successes_total", 1, namespace: "bench")
      T.histogram("tasker_step_execution_duration", ms, namespace: "bench")
      result
    end
  end
end

FIELDS = 'order_id: 42, namespace: "payments", amount: 12.5'
ATTRIBUTES = '{ "order_id" => 42, "namespace" => "payments", "amount" => 12.5 }'
# [id, description, Ruby snippet]
CASES = [
  ["noop_method", "no-op Ruby method call (baseline)", "noop"],
  ["noop_method_same_args", "no-op Ruby method, called with a message and 3 keywords (baseline)",
   "noop_args(\"charged\", #{FIELDS})"],
  ["ffi_noop", "no-op call into the extension (baseline: the physical FFI floor)", "N.noop"],
  ["rust_span_in_process", "the Rust side of a span: DynSpan start/end with 3 fields, looped in Rust (baseline)",
   "N._bench_rust_spans(n)", :native],
  ["logger_json", "stdlib Logger, JSON formatter, 3 fields, to /dev/null (baseline)",
   "NATIVE_LOGGER.info({ message: \"charged\", #{FIELDS} })"],
  ["span_exported_3_fields", "TaskerCore::Tracing.span(name, 3 fields) {} exported",
   "T.span(\"charge_payment\", #{FIELDS}) {}"],
  ["span_exported_no_fields", "TaskerCore::Tracing.span(name) {} exported (diagnostic)",
   "T.span(\"charge_payment\") {}"],
  ["otel_sdk_span", "opentelemetry-sdk tracer.in_span, 3 attributes, BatchSpanProcessor to a discarding exporter (baseline)",
   "SDK_TRACER.in_span(\"charge_payment\", attributes: #{ATTRIBUTES}) {}"],
  ["otel_bridge_span", "OpenTelemetry API tracer.in_span, 3 attributes, through the gem's bridge: exported by the core",
   "BRIDGE_TRACER.in_span(\"charge_payment\", attributes: #{ATTRIBUTES}) {}"],
  ["info_json_3_fields", "info(msg, 3 fields) as a JSON line", "T.info(\"charged\", #{FIELDS})"],
  ["debug_disabled", "debug(msg, 3 fields) below the level", "T.debug(\"charged\", #{FIELDS})"],
  ["debug_disabled_block", "debug { [msg, 3 fields] } below the level (block form: nothing built)",
   "T.debug { [\"charged\", { #{FIELDS} }] }"],
  ["counter", "counter(name, 1, 1 label)", "T.counter(\"tasker_steps_claimed_total\", 1, namespace: \"payments\")"],
  ["histogram", "histogram(name, value, 1 label)",
   "T.histogram(\"tasker_step_execution_duration\", 12.5, namespace: \"payments\")"],
  ["handler_direct", "handler: sum of 100 numbers, called directly", "HANDLER.call(NUMBERS)"],
  ["handler_framework",
   "handler through the framework: remote context, handler_span (correlation), 1 log line, 1 counter, 1 histogram",
   "framework_step(HEADERS)"],
  ["handler_run_step",
   "handler through the worker's per-step path, run_step (execute_step span, step.claimed/executing/completed events)",
   "T.run_step(STEP_MESSAGE) { HANDLER.call(NUMBERS) }"]
].freeze

# --- measurement -----------------------------------------------------------------------------

def clock = Process.clock_gettime(Process::CLOCK_MONOTONIC, :nanosecond)

# A case's loop: the snippet repeated n times, or (native cases) one call that loops n times.
def compile(snippet, native = false)
  code = native ? "lambda { |n| #{snippet} }" : "lambda { |n| i = 0; while i < n; #{snippet}; i += 1; end }"
  # rubocop:disable Security/Eval -- the snippets above, compiled into a tight loop
  eval(code, TOPLEVEL_BINDING, __FILE__, __LINE__)
  # rubocop:enable Security/Eval
end

def time_batch(body, n)
  t0 = clock
  body.call(n)
  clock - t0
end

# Iterations for a batch of about BATCH_MS.
def calibrate(body)
  target = BATCH_MS * 1_000_000
  n = 1
  loop do
    t = time_batch(body, n)
    return [(n * target / [t, 1].max).ceil, 1].max if t >= target / 10

    n *= 10
  end
end

def percentile(sorted, q)
  return nil if sorted.empty?

  sorted[[(q * (sorted.size - 1)).round, sorted.size - 1].min]
end

# Cases whose helper this build of the gem lacks (an older build), and the OpenTelemetry cases
# without the vendored gems, are left out.
def available?(snippet)
  return false if snippet.include?("_TRACER") && !defined?(SDK_TRACER)

  !snippet.include?("_bench_rust_spans") || N.respond_to?(:_bench_rust_spans)
end

def run(cases)
  cases = cases.select { |c| available?(c[2]) }
  only = ENV["BENCH_ONLY"] # a regexp of case ids, to investigate a few cases alone
  cases = cases.select { |c| c[0].match?(Regexp.new(only)) } if only
  empty = compile("nil")
  loops = cases.map { |(_id, _desc, snippet, native)| compile(snippet, native) }
  sizes = loops.map { |l| calibrate(l) }
  empty_n = calibrate(empty)
  samples = Array.new(cases.size) { [] }
  empty_samples = []
  rng = Random.new(7) # a fixed seed: the same orders every run
  ROUNDS.times do
    empty_samples << time_batch(empty, empty_n).fdiv(empty_n)
    # A new order every round: no case always follows the same one (e.g. the span cases, whose
    # spans the exporter thread is still draining while the next batch runs).
    (0...cases.size).to_a.shuffle(random: rng).each do |i|
      samples[i] << time_batch(loops[i], sizes[i]).fdiv(sizes[i])
    end
  end
  overhead = percentile(empty_samples.sort, 0.5)
  results = cases.each_with_index.map do |(id, desc, snippet, native), i|
    s = (native ? samples[i] : samples[i].map { |v| v - overhead }).sort
    { id: id, description: desc, code: snippet, median_ns: percentile(s, 0.5).round(1),
      p99_ns: percentile(s, 0.99).round(1), mean_ns: (s.sum / s.size).round(1), samples: s.size,
      iterations_per_sample: sizes[i] }
  end
  [results, overhead]
end

$stderr.sync = true
pipeline = N._bench_pipeline
# Checks the paths once and defines the constants the cases use.
def setup
  T.refresh_level
  headers = nil
  T.with_correlation(namespace: "bench") { T.span("orchestrator_step") { headers = T.inject } }
  Object.const_set(:HEADERS, headers.freeze)
  Object.const_set(:STEP_MESSAGE, STEP_CONTEXT.merge("step_name" => "sum", "handler" => "SumHandler", "attempt" => 1,
                                                     "headers" => headers).freeze)
  abort "run_step returned something else" unless T.run_step(STEP_MESSAGE) { HANDLER.call(NUMBERS) } == 5050
  abort "framework step returned #{framework_step(HEADERS).inspect}" unless framework_step(HEADERS) == 5050
  abort "debug is enabled: the disabled-level case would log" if T.enabled?(:debug)
end

if count
  # Instruction counts (scripts/callgrind.sh): the same set-up, then one case N times, and a
  # flush so that the exporter thread's share is in the count.
  id, n = count
  _, _, snippet, native = CASES.find { |c| c[0] == id } || abort("no case #{id}")
  unless available?(snippet)
    warn "#{id}: left out (the vendored OpenTelemetry gems are missing)"
    exit
  end
  pipeline.run do
    setup
    compile(snippet, native).call(Integer(n))
  end
  pipeline.flush
  SDK_PROVIDER.force_flush if defined?(SDK_PROVIDER)
  exit
end

results, overhead = pipeline.run do
  setup
  # The handler cases run in rounds of their own, after a full GC: the garbage of the
  # allocation-heavy cases above is then not collected inside their batches.
  ops, steps = CASES.partition { |c| !c[0].start_with?("handler_") }
  op_results, loop_overhead = run(ops)
  GC.start
  step_results, = run(steps)
  [op_results + step_results, loop_overhead]
end

by_id = results.to_h { |r| [r[:id], r] }
bridge, sdk = by_id["otel_bridge_span"], by_id["otel_sdk_span"]
report = {
  language: "ruby",
  version: RUBY_DESCRIPTION,
  opentelemetry_sdk: defined?(OTEL_SDK_VERSION) ? OTEL_SDK_VERSION : nil,
  # The issue's goal: an OpenTelemetry-API span through the bridge at most 1/5 of the SDK's.
  bridge_vs_sdk: bridge && sdk ? (bridge[:median_ns] / sdk[:median_ns]).round(3) : nil,
  yjit: defined?(RubyVM::YJIT) && RubyVM::YJIT.enabled? ? true : false,
  smoke: smoke,
  rounds: ROUNDS,
  batch_ms: BATCH_MS,
  loop_overhead_ns: overhead.round(2),
  cases: results
}
json = JSON.pretty_generate(report)
if out
  File.write(out, json)
else
  puts json
end
results.each { |r| warn format("ruby  %-26s median %10.1f ns  p99 %10.1f ns", r[:id], r[:median_ns], r[:p99_ns]) }
if report[:bridge_vs_sdk]
  warn format("ruby  otel_bridge_span / otel_sdk_span = %.3f (goal: <= 0.2)", report[:bridge_vs_sdk])
end
