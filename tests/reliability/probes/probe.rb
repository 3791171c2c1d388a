# frozen_string_literal: true

# Reliability probe for the Ruby gem: `ruby probe.rb SCENARIO`, the twin of probe.py (same
# scenarios, settings from the environment, FIGURES {json} lines and control words on stdout).

require "json"
require "tasker_core/tracing"

T = TaskerCore::Tracing
$stdout.sync = true

def figures(**values)
  puts "FIGURES #{JSON.generate(values)}"
end

def rss_kib
  File.read("/proc/self/status")[/^VmRSS:\s+(\d+)/, 1].to_i
end

def init(**overrides)
  T.init(service_name: ENV.fetch("SERVICE", "ruby-probe"), otlp_endpoint: ENV.fetch("ENDPOINT"),
         otlp_protocol: ENV.fetch("PROTOCOL", "http/protobuf"), **overrides)
end

def now = Process.clock_gettime(Process::CLOCK_MONOTONIC)

# n spans named +name+ with one event each (and a counter every 100); nanoseconds per span.
def record(name, count)
  started = Process.clock_gettime(Process::CLOCK_MONOTONIC, :nanosecond)
  count.times do |i|
    T.span(name, i: i) { T.info("work", i: i) }
    T.counter("tasker_steps_claimed_total") if (i % 100).zero?
  end
  (Process.clock_gettime(Process::CLOCK_MONOTONIC, :nanosecond) - started).fdiv(count)
end

def wait_until(timeout)
  started = now
  until yield
    abort "timed out after #{timeout}s; stats #{T.stats}" if now - started > timeout
    sleep 0.02
  end
  now - started
end

def down_up
  queue, n_down, n_up, chunk = %w[QUEUE N_DOWN N_UP CHUNK].map { |k| Integer(ENV.fetch(k)) }
  init(otlp_max_queue_size: queue, otlp_batch_size: 256, otlp_scheduled_delay_ms: 50, otlp_timeout_ms: 1000,
       otlp_drop_warning_interval_ms: 500, metrics_export_interval_ms: 200, logging_export_logs: true,
       logging_format: "json", logging_level: "warn")
  record("warmup", 500)
  rss_before = rss_kib
  down_ns = record("down", n_down)
  rss_after = rss_kib
  failed_after = wait_until(30) { T.stats[:spans_dropped].positive? && T.stats[:metrics_dropped].positive? }
  down = T.stats
  puts "DOWN_DONE"
  $stdin.gets # the collector is up now
  resumed = wait_until(30) do
    T.flush(timeout: 5)
  rescue T::Error
    false
  end
  up_ns = 0.0
  (n_up / chunk).times do
    up_ns += record("up", chunk) * chunk / n_up
    T.flush(timeout: 10)
  end
  T.flush(timeout: 10)
  figures(stats: T.stats, down_stats: down, ns_per_span_down: down_ns.round, ns_per_span_up: up_ns.round,
          rss_kib_before: rss_before, rss_kib_after_down: rss_after, first_failure_after_s: failed_after.round(2),
          resumed_after_s: resumed.round(2), sent: 500 + n_down + n_up)
end

def hung
  init(otlp_timeout_ms: 500, otlp_shutdown_timeout_ms: 1000, otlp_scheduled_delay_ms: 3_600_000,
       metrics_enabled: false)
  spans = ->(n) { n.times { |i| T.span("hung", i: i) { nil } } }
  flush_error = lambda do |timeout|
    T.flush(timeout: timeout)
    ""
  rescue T::Error => e
    e.message
  end
  spans.call(10)
  started = now
  short_error = flush_error.call(0.2)
  short_flush = now - started
  gave_up = wait_until(10) { T.stats[:spans_dropped] == 10 } + short_flush
  spans.call(10)
  started = now
  long_error = flush_error.call(5)
  long_flush = now - started
  spans.call(10)
  figures(short_flush_s: short_flush.round(3), short_error: short_error, export_gave_up_s: gave_up.round(3),
          long_flush_s: long_flush.round(3), long_error: long_error, stats: T.stats)
  puts "EXIT_AT #{(Time.now.to_f * 1000).round}"
end

def exit_paths
  n = Integer(ENV.fetch("N"))
  # One batch at exit: nothing is sent before the script ends.
  init(otlp_max_queue_size: n * 2, otlp_batch_size: n * 2)
  n.times { |i| T.span("before_exit", i: i) { T.info("work", i: i) } }
  raise "exported early" unless T.stats[:spans_exported].zero?

  case ENV.fetch("EXIT_MODE")
  when "exit" then exit 3
  when "raise" then raise "the script fails"
  when "sigterm"
    # Nothing to do: Ruby's default SIGTERM handler raises SignalException, at_exit runs.
    puts "READY"
    sleep 60
    abort "SIGTERM never came"
  end
end

def fork_children
  n = Integer(ENV.fetch("N"))
  init(otlp_max_queue_size: n * 8, otlp_scheduled_delay_ms: 100)
  n.times { |i| T.span("parent_before", i: i) { nil } }
  T.flush(timeout: 10)
  pids = 4.times.map do |c|
    pid = fork do
      n.times { |i| T.span("child_#{c}", i: i) { T.info("in child", i: i) } }
      T.flush(timeout: 10)
      figures(child: c, stats: T.stats)
    end
    T.span("parent_between", c: c) { nil }
    pid
  end
  n.times { |i| T.span("parent_after", i: i) { nil } }
  codes = pids.map { |pid| Process.wait2(pid)[1].exitstatus }
  T.flush(timeout: 10)
  figures(children_exit_codes: codes, stats: T.stats)
end

def threads
  n_threads = Integer(ENV.fetch("THREADS"))
  n = Integer(ENV.fetch("N"))
  init(otlp_max_queue_size: n_threads * (n + 1) + 1000, otlp_batch_size: 4096, otlp_scheduled_delay_ms: 200)
  errors = Queue.new
  started = now
  n_threads.times.map do |t|
    Thread.new do
      T.span("thread_root", thread: t) do
        n.times { |i| T.span("work", thread: t, i: i) { T.info("step", thread: t, i: i) } }
      end
    rescue StandardError => e
      errors << e.inspect
    end
  end.each(&:join)
  elapsed = now - started
  T.flush(timeout: 60)
  figures(sent: n_threads * (n + 1), seconds: elapsed.round(2), errors: Array.new(errors.size) { errors.pop },
          stats: T.stats)
end

def soak
  total = Integer(ENV.fetch("N"))
  every = Integer(ENV.fetch("SAMPLE_EVERY"))
  init(otlp_max_queue_size: 65_536, otlp_batch_size: 4096, otlp_scheduled_delay_ms: 200,
       metrics_export_interval_ms: 1000)
  names = Array.new(20) { |k| "soak_#{k}" }
  samples = [rss_kib]
  started = now
  total.times do |i|
    T.span(names[i % 20], i: i, order: "order-#{i}", attempt: i % 3) do |s|
      T.info("soak step", i: i)
      s[:result] = "ok"
    end
    T.counter("tasker_steps_claimed_total", namespace: "soak") if (i % 1000).zero?
    next unless ((i + 1) % every).zero?

    T.flush(timeout: 120) # sample what is retained, not what waits in the export queue
    samples << rss_kib
  end
  elapsed = now - started
  T.flush(timeout: 120)
  figures(sent: total, seconds: elapsed.round(1), rss_kib_samples: samples, stats: T.stats)
end

def redaction
  init(logging_export_logs: true, logging_format: "json", metrics_export_interval_ms: 200)
  logger = TaskerCore::Tracing::Logger.new(progname: "probe")
  deep = { "secret" => "SECRET-deep" }
  9.times { |k| deep = { "l#{k}" => deep } }
  T.span("redaction", password: "SECRET-span-field", user: { name: "ann", api_key: "SECRET-nested-map" },
                      users: [{ name: "bob", token: "SECRET-list-of-maps" }], deep: deep) do |s|
    s[:authorization] = "SECRET-span-set"
    s.add_event("login", cookie: "SECRET-span-event")
    T.info("event", credit_card: "SECRET-log-event")
    logger.warn("logger", private_key: "SECRET-logger-fields")
    T.lifecycle("step.completed", duration_ms: 1.0, labels: { api_token: "SECRET-lifecycle-label" },
                                  passwd: "SECRET-lifecycle-field")
    T.counter("tasker_steps_claimed_total", session_token: "SECRET-metric-label")
    begin
      raise ArgumentError, "SECRET-EXCEPTION-MESSAGE is not scrubbed"
    rescue ArgumentError => e
      s.record_exception(e)
    end
  end
  T.handler_span("Handler", { step_name: "s", ssn: "SECRET-handler-context" }) { nil }
  T.flush(timeout: 10)
  sleep 0.5 # one more metric export
  T.flush(timeout: 10)
end

def headers
  begin
    init(otlp_headers: { "x-api-key" => "SECRET-\n-not-a-header" })
  rescue T::Error => e
    puts "bad header: #{e.message}"
  end
  init(logging_export_logs: true)
  T.span("with_auth_header") { T.info("sent with the header") }
  T.flush(timeout: 10)
end

# Forks with a hung collector and 200 spans queued: how long each fork takes, and the longest gap
# of a 10 ms ticker thread meanwhile (the fork used to hold the GVL while it flushed).
def fork_hung
  init(otlp_timeout_ms: 60_000, otlp_shutdown_timeout_ms: 1000, metrics_enabled: false)
  200.times { |i| T.span("queued", i: i) { nil } }
  gaps = []
  ticker = Thread.new do
    last = now
    loop do
      sleep 0.01
      t = now
      gaps << t - last
      last = t
    end
  end
  sleep 0.1
  took = Integer(ENV.fetch("FORKS", "10")).times.map do
    started = now
    pid = fork do
      T.span("in_child") { nil }
      exit!(0)
    end
    elapsed = now - started
    Process.wait(pid)
    elapsed
  end.sort
  sleep 0.05
  ticker.kill
  figures(forks: took.size, fork_ms_median: (took[took.size / 2] * 1000).round(2), fork_ms_max: (took.last * 1000).round(2),
          ticker_max_gap_ms: (gaps.max * 1000).round(1))
  exit!(0)
end

# flush(timeout: 20) with a hung collector, interrupted by Thread#raise and then by Ctrl-C
# (SIGINT) after 0.3 s each: how long after each the exception arrives.
def flush_interrupt
  init(otlp_timeout_ms: 60_000, otlp_shutdown_timeout_ms: 1000, metrics_enabled: false)
  20.times { |i| T.span("queued", i: i) { nil } }
  interrupt = lambda do |rescued, &send|
    Thread.new do
      sleep 0.3
      send.call
    end
    started = now
    begin
      T.flush(timeout: 20)
      nil
    rescue rescued
      ((now - started - 0.3) * 1000).round(1)
    end
  end
  main = Thread.current
  raised = interrupt.call(RuntimeError) { main.raise(RuntimeError, "stop") }
  # Ctrl-C comes from outside the process, as a terminal's does (with Ruby's default handling
  # even when this process was started with SIGINT ignored, as background jobs are).
  trap("INT", "DEFAULT")
  started = now
  Process.detach(Process.spawn("sh", "-c", "sleep 0.3; kill -INT #{Process.pid}"))
  signalled = begin
    T.flush(timeout: 20)
    nil
  rescue Interrupt
    ((now - started - 0.3) * 1000).round(1)
  end
  figures(interrupted: !raised.nil? && !signalled.nil?, thread_raise_to_exception_ms: raised,
          signal_to_exception_ms: signalled)
  exit!(0)
end

# One exported span with N distinct attributes: how long the call takes.
def many_fields
  n = Integer(ENV.fetch("N"))
  init(metrics_enabled: false)
  fields = (0...n).to_h { |i| [:"field_#{i}", i] }
  started = now
  T.span("wide", **fields) { nil }
  seconds = now - started
  T.flush(timeout: 10)
  figures(fields: n, seconds: seconds.round(3), stats: T.stats)
end

# N distinct metric names (KIND=metric) or N distinct span shapes (KIND=shape): resident memory
# before and after.
def many_names
  n = Integer(ENV.fetch("N"))
  kind = ENV.fetch("KIND")
  init(metrics_export_interval_ms: 200)
  1000.times do |i|
    T.counter("warmup_total")
    T.span("warmup", k: i) { nil }
  end
  before = rss_kib
  started = now
  n.times do |i|
    if kind == "metric"
      T.counter("distinct_metric_#{i}_total")
    else
      T.span("shape", "id_#{i}": i) { nil }
    end
  end
  seconds = now - started
  T.flush(timeout: 10)
  after = rss_kib
  figures(names: n, kind: kind, rss_kib_before: before, rss_kib_after: after, growth_mib: ((after - before) / 1024.0).round(1),
          seconds: seconds.round(2), stats: T.stats)
end

case ARGV.fetch(0)
when "down_up" then down_up
when "hung" then hung
when "exit" then exit_paths
when "fork" then fork_children
when "threads" then threads
when "soak" then soak
when "redaction" then redaction
when "headers" then headers
when "fork_hung" then fork_hung
when "flush_interrupt" then flush_interrupt
when "many_fields" then many_fields
when "many_names" then many_names
else abort "unknown scenario #{ARGV[0]}"
end
