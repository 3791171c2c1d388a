# frozen_string_literal: true

require_relative "test_helper"

class SpanTest < Minitest::Test
  include TestSupport

  def test_span_returns_the_block_value_and_nested_spans_nest_at_the_collector
    outer_name = unique("outer")
    inner_name = unique("inner")
    result = T.span(outer_name, order_id: 42) do |outer|
      outer[:stage] = "charging"
      T.span(:debug, inner_name) { :ignored_debug }
      T.span(inner_name, ratio: 0.5, ok: true) { |inner| inner.add_event("charged", amount: 12); :value }
    end
    assert_equal :value, result
    outer = COLLECTOR.span(outer_name)
    inner = COLLECTOR.span(inner_name)
    assert_equal outer[:trace_id], inner[:trace_id]
    assert_equal outer[:span_id], inner[:parent_id]
    assert_equal "42", outer[:attributes]["order_id"]
    assert_equal "charging", outer[:attributes]["stage"]
    assert_equal "0.5", inner[:attributes]["ratio"]
    assert_includes inner[:events], "charged"
    assert_equal "ruby-tests", outer[:service]
  end

  def test_exceptions_are_recorded_and_reraised_unchanged
    name = unique("failing")
    error = ArgumentError.new("bad amount")
    raised = assert_raises(ArgumentError) { T.span(name) { raise error } }
    assert_same error, raised
    span = COLLECTOR.span(name)
    assert_equal "STATUS_CODE_ERROR", span[:status]
    assert_equal "ArgumentError", span[:attributes]["exception.type"]
    assert_equal "bad amount", span[:attributes]["exception.message"]
    assert_match(/tracing_test\.rb/, span[:attributes]["exception.stacktrace"])
    assert_includes span[:events], "exception"
  end

  def test_start_span_finish_and_collection_of_an_unfinished_span
    name = unique("manual")
    span = T.start_span(name, step: 1)
    refute span.finished?
    T.with_span(span) { T.span(unique("child_of_manual")) { nil } }
    span.finish
    assert span.finished?
    assert COLLECTOR.span(name)

    lost = unique("never_finished")
    T.start_span(lost)
    GC.start(full_mark: true, immediate_sweep: true)
    5.times { GC.start }
    assert COLLECTOR.span(lost), "a span dropped without finish is ended when collected"
  end

  def test_spans_nest_under_the_rust_span_current_when_ruby_is_called_in_process
    name = unique("handler_in_process")
    _value, trace_id, span_id = T::Native._with_rust_span("orchestrator_step", nil, nil) do
      T.span(name) { T.info("inside") }
    end
    span = COLLECTOR.span(name)
    assert_equal trace_id, span[:trace_id]
    assert_equal span_id, span[:parent_id]
  end

  def test_ruby_rust_ruby_sandwich_nests_under_the_rust_span
    # A Ruby span hands its context to Rust code (as run_step does), which calls back into Ruby:
    # the inner Ruby span is the Rust span's child, and the Ruby span after it the outer's.
    outer, inner, after = unique("rb_outer"), unique("rb_in_rust"), unique("rb_after")
    rust_id = nil
    T.span(outer) do
      s = T.state
      _v, _t, rust_id = T::Native._with_rust_span("rust_mid", s.parent, s.correlation) { T.span(inner) { nil } }
      T.span(after) { nil }
    end
    outer_span = COLLECTOR.span(outer)
    assert_equal rust_id, COLLECTOR.span(inner)[:parent_id]
    assert_equal outer_span[:span_id], COLLECTOR.span(after)[:parent_id]
    rust = COLLECTOR.span("rust_mid") { |sp| sp[:span_id] == rust_id }
    assert_equal outer_span[:span_id], rust[:parent_id]
  end

  def test_fibers_keep_their_own_parents
    a_parent = unique("fiber_a")
    b_parent = unique("fiber_b")
    a_child = unique("fiber_a_child")
    b_child = unique("fiber_b_child")
    fa = Fiber.new { T.span(a_parent) { Fiber.yield; T.span(a_child) { nil } } }
    fb = Fiber.new { T.span(b_parent) { Fiber.yield; T.span(b_child) { nil } } }
    fa.resume
    fb.resume
    fa.resume
    fb.resume
    assert_equal COLLECTOR.span(a_parent)[:span_id], COLLECTOR.span(a_child)[:parent_id]
    assert_equal COLLECTOR.span(b_parent)[:span_id], COLLECTOR.span(b_child)[:parent_id]
  end

  def test_threads_start_empty_unless_given_the_context
    parent = unique("thread_parent")
    orphan = unique("thread_orphan")
    adopted = unique("thread_adopted")
    T.span(parent) do
      ctx = T.current_context
      Thread.new { T.span(orphan) { nil } }.join
      Thread.new { T.with_context(ctx) { T.span(adopted) { nil } } }.join
    end
    p = COLLECTOR.span(parent)
    refute_equal p[:trace_id], COLLECTOR.span(orphan)[:trace_id]
    assert_equal p[:span_id], COLLECTOR.span(adopted)[:parent_id]
  end

  def test_fields_of_every_kind_convert_and_never_hang_or_raise
    cyclic = { "a" => 1 }
    cyclic["self"] = cyclic
    bad = Object.new
    def bad.to_s = raise("boom")
    name = unique("fields")
    T.span(name, sym: :value, time: Time.at(0).utc, nothing: nil, big: "x" * 20_000,
                 binary: "\xff\xfe".b, cyclic: cyclic, bad: bad, 123 => "int key", list: [1, "a", nil],
                 huge_int: 2**80) { nil }
    attrs = COLLECTOR.span(name)[:attributes]
    assert_equal "value", attrs["sym"]
    assert_match(/\A1970-01-01T00:00:00\.000000Z?/, attrs["time"].sub("+00:00", "Z"))
    assert_equal "null", attrs["nothing"]
    assert_match(/…\[truncated 11808 bytes\]\z/, attrs["big"])
    assert_equal "\u{fffd}\u{fffd}", attrs["binary"]
    assert_equal "1", attrs["cyclic.a"]
    assert_equal "[cycle]", attrs["cyclic.self"]
    assert_match(/\A<unprintable \w+>\z/, attrs["bad"])
    assert_equal "int key", attrs["123"]
    assert_equal '[1,"a",null]', attrs["list"]
    assert_equal (2**80).to_s, attrs["huge_int"]
  end

  # Keyword hashes of plain values convert straight from the hash iteration; any other value
  # sends the whole hash through the general conversion: both must give the same fields.
  def test_plain_and_general_conversions_give_the_same_fields
    plain = { sym: :value, "str" => "text", int: -42, max: 2**62 - 1, float: 2.5, nothing: nil, yes: true,
              no: false, ascii: "plain".encode("US-ASCII"), binary: "\xff\xfe".b, "caf\u00e9" => "\u00e9t\u00e9" }
    fast = unique("plain_fields")
    general = unique("general_fields")
    T.span(fast, **plain) { nil }
    T.span(general, **plain, at: Time.at(0).utc, wide: "wide".encode("UTF-16LE")) { nil }
    fast_attrs = COLLECTOR.span(fast)[:attributes]
    general_attrs = COLLECTOR.span(general)[:attributes]
    assert_equal "wide", general_attrs.delete("wide")
    refute_nil general_attrs.delete("at")
    assert_equal general_attrs, fast_attrs
    assert_equal({ "sym" => "value", "str" => "text", "int" => "-42", "max" => (2**62 - 1).to_s, "float" => "2.5",
                   "nothing" => "null", "yes" => "true", "no" => "false", "ascii" => "plain",
                   "binary" => "\u{fffd}\u{fffd}", "caf\u00e9" => "\u00e9t\u00e9" },
                 fast_attrs.slice(*%w[sym str int max float nothing yes no ascii binary], "caf\u00e9"))
  end

  def test_invalid_input_raises_the_gems_error_with_a_clear_message
    err = assert_raises(T::Error) { T.span(:loud, "x") { nil } }
    assert_match(/unknown level :loud/, err.message)
    err = assert_raises(T::Error) { T.with_correlation(task_uuid: "task-1") { nil } }
    assert_match(/task_uuid/, err.message)
    assert_match(/task-1/, err.message)
    err = assert_raises(T::Error) { T.counter("c", "three") }
    assert_match(/must be Numeric/, err.message)
    assert_raises(T::Error) { T.span("no block") }
    err = assert_raises(T::Error) { T.init(otlp_protocol: "udp") }
    assert_match(/telemetry\.otlp\.protocol/, err.message)
    assert_match(/"udp"/, err.message)
    assert_match(/grpc, http/, err.message)
    err = assert_raises(T::ConfigError) { T.init }
    assert_match(/TaskerCore::Tracing.init was already called/, err.message)
    err = assert_raises(T::Error) { T.lifecycle("step.teleported") }
    assert_match(/step.completed/, err.message)
  end
end

class CorrelationTest < Minitest::Test
  include TestSupport

  def test_with_correlation_reaches_spans_and_generates_uuid_v7
    name = unique("correlated")
    id = nil
    T.with_correlation(namespace: "payments") do |cid|
      id = cid
      assert_equal cid, T.current_correlation_id
      T.span(name) { nil }
    end
    assert_match(/\A\h{8}-\h{4}-7\h{3}-/, id)
    assert_nil T.current_correlation_id
    attrs = COLLECTOR.span(name)[:attributes]
    assert_equal id, attrs["correlation_id"]
    assert_equal "payments", attrs["namespace"]
  end

  def test_inject_and_with_remote_context_continue_the_trace
    sender = unique("sender")
    receiver = unique("receiver")
    headers = nil
    cid = "0190e7c4-5d2a-7cc0-a7a3-4f1d0c9a0b11"
    T.with_correlation(correlation_id: cid) { T.span(sender) { headers = T.inject } }
    assert_match(/\A00-\h{32}-\h{16}-01\z/, headers["traceparent"])
    assert_includes headers["baggage"], "correlation_id=#{cid}"
    T.with_remote_context(headers) do
      assert_equal cid, T.current_correlation_id
      T.span(receiver) { nil }
    end
    s = COLLECTOR.span(sender)
    r = COLLECTOR.span(receiver)
    assert_equal s[:trace_id], r[:trace_id]
    assert_equal s[:span_id], r[:parent_id]
    assert_equal cid, r[:attributes]["correlation_id"]

    garbage = unique("after_garbage")
    T.with_remote_context("traceparent" => "nonsense", "baggage" => ";;") { T.span(garbage) { nil } }
    assert_equal "", COLLECTOR.span(garbage)[:parent_id].to_s
  end

  def test_handler_span_takes_ids_from_the_step_context
    context = { correlation_id: "0190e7c4-5d2a-7cc0-a7a3-4f1d0c9a0b12", task_uuid: "0190e7c4-5d2a-7cc0-a7a3-4f1d0c9a0b13",
                step_uuid: "0190e7c4-5d2a-7cc0-a7a3-4f1d0c9a0b14", namespace: "fulfillment", step_name: "charge" }
    inner = unique("inside_handler")
    T.handler_span("PaymentHandler", context) do
      assert_equal context[:correlation_id], T.current_correlation_id
      T.span(inner) { nil }
    end
    handler = COLLECTOR.span("handler_execution") { |s| s[:attributes]["step_uuid"] == context[:step_uuid] }
    assert_equal "PaymentHandler", handler[:attributes]["handler.name"]
    assert_equal "fulfillment", handler[:attributes]["namespace"]
    assert_equal context[:task_uuid], handler[:attributes]["task_uuid"]
    assert_equal handler[:span_id], COLLECTOR.span(inner)[:parent_id]
    assert_equal context[:correlation_id], COLLECTOR.span(inner)[:attributes]["correlation_id"]
  end
end

class MetricsTest < Minitest::Test
  include TestSupport

  def test_metrics_reach_the_collector
    name = unique("ruby_jobs_total")
    T.counter(name, 2, queue: "default")
    T.histogram("tasker_step_execution_duration", 12.5, namespace: "ruby")
    T.gauge(unique("ruby_depth"), 7)
    T.with_correlation { T.span(unique("lifecycle_holder")) { T.lifecycle("step.completed", duration_ms: 3.0) } }
    deadline = Time.now + 15
    until COLLECTOR.output.include?(name) || Time.now > deadline
      T.flush
      sleep 0.1
    end
    assert_includes COLLECTOR.output, name
    assert_includes COLLECTOR.output, "tasker_steps_successes_total"
  end
end

class EventsTest < Minitest::Test
  include TestSupport

  def test_events_json_lines_carry_correlation_and_redaction
    _out, lines, status = run_ruby(<<~RUBY)
      T = TaskerCore::Tracing
      T.with_correlation(namespace: "ns") do
        T.span("work") do
          T.info("charged", amount: 12, api_key: "sk_live_1", nested: { password: "pw", ok: 1 })
          T.debug { ["lazy", { n: 1 }] }
          T.event(:warn, "explicit")
        end
      end
      T.error("outside")
    RUBY
    assert status.success?
    charged = lines.find { |l| l["message"] == "charged" }
    assert_equal 12, charged["fields"]["amount"]
    assert_equal "[REDACTED]", charged["fields"]["api_key"]
    assert_equal "[REDACTED]", charged["fields"]["nested.password"]
    assert_equal 1, charged["fields"]["nested.ok"]
    assert_equal ["work"], charged["spans"]
    assert_equal "ruby", charged["target"]
    assert_match(/\A\h{8}-/, charged["correlation_id"])
    assert_equal "ns", charged["namespace"]
    assert_equal charged["correlation_id"], lines.find { |l| l["message"] == "explicit" }["correlation_id"]
    assert_equal "DEBUG", lines.find { |l| l["message"] == "lazy" }["level"]
    assert_equal "ERROR", lines.find { |l| l["message"] == "outside" }["level"]
  end

  def test_disabled_levels_do_not_evaluate_blocks_and_log_calls_never_raise
    _out, lines, status, err = run_ruby(<<~RUBY, "TASKER_LOG_LEVEL" => "info")
      T = TaskerCore::Tracing
      called = false
      T.debug { called = true; "expensive" }
      print called ? "called" : "skipped", " ", T.enabled?(:debug), " ", T.enabled?(:info)
      bad = Object.new
      def bad.to_s = raise("boom")
      print " ", T.info(bad).inspect, " ", T.info("still works").inspect
      print " ", T.event(:loud, "no such level").inspect, " ", T.event(:louder, "again").inspect
    RUBY
    assert status.success?, err
    assert_equal "skipped false true true true false false", _out
    assert lines.any? { |l| l["message"] == "still works" }
    assert lines.any? { |l| l["message"] == "<unprintable Object>" }, "a message whose to_s raises is kept"
    assert_equal 1, err.scan("reported once").size
  end
end

class LoggerTest < Minitest::Test
  include TestSupport

  def test_logger_is_a_drop_in_logger
    assert TaskerCore::Tracing::Logger.new < ::Logger rescue assert TaskerCore::Tracing::Logger.ancestors.include?(::Logger)
    out, lines, status, err = run_ruby(<<~RUBY)
      logger = TaskerCore::Tracing::Logger.new(progname: "worker")
      logger.info { "from a block" }
      logger.info("with fields", order_id: 7, password: "pw")
      logger.level = :warn
      print logger.info?, " ", logger.warn?
      logger.info("suppressed")
      logger.warn("kept")
      logger << "raw line\\n"
      logger.silence { logger.warn("silenced") }
      logger.error(RuntimeError.new("it broke"))
      logger.add(Logger::FATAL, "fatal one")
      logger.level = Logger::DEBUG
      logger.debug("debug again")
    RUBY
    assert status.success?, err
    assert_equal "false true", out
    messages = lines.map { |l| l["message"] }
    assert_includes messages, "from a block"
    assert_includes messages, "kept"
    refute_includes messages, "suppressed"
    refute_includes messages, "silenced"
    assert_includes messages, "raw line", "<< writes whatever the Logger's level, as ::Logger#<< does"
    assert_includes messages, "debug again"
    fields = lines.find { |l| l["message"] == "with fields" }
    assert_equal "ruby.worker", fields["target"]
    assert_equal "[REDACTED]", fields["fields"]["password"]
    broke = lines.find { |l| l["message"] == "it broke" }
    assert_equal "RuntimeError", broke["fields"]["exception.type"]
    fatal = lines.find { |l| l["message"] == "fatal one" }
    assert_equal "FATAL", fatal["fields"]["severity"]
  end
end

class ProcessTest < Minitest::Test
  include TestSupport

  def test_short_script_and_forked_children_export_their_spans
    tag = unique("proc")
    script = <<~RUBY
      T = TaskerCore::Tracing
      T.span("#{tag}_parent") { nil }
      T.flush
      pids = 2.times.map { |i| fork { T.span("#{tag}_child_\#{i}") { nil } } }
      pids.each { |pid| Process.wait(pid) }
      T.span("#{tag}_parent_after") { nil }
      exit 0
    RUBY
    _out, _lines, status, err = run_ruby(script, "OTEL_EXPORTER_OTLP_ENDPOINT" => COLLECTOR.http_endpoint,
                                                 "TASKER_LOG_FORMAT" => "compact")
    assert status.success?, err
    %w[parent child_0 child_1 parent_after].each { |n| assert COLLECTOR.span("#{tag}_#{n}"), n }
  end

  def test_a_script_that_raises_still_exports
    tag = unique("raising")
    _out, _lines, status, = run_ruby(%(TaskerCore::Tracing.span("#{tag}") { nil }; raise "bye"),
                                     "OTEL_EXPORTER_OTLP_ENDPOINT" => COLLECTOR.http_endpoint)
    refute status.success?
    assert COLLECTOR.span(tag)
  end
end
