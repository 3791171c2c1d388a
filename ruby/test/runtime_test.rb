# frozen_string_literal: true

require_relative "test_helper"

# Operating it from Ruby (issue 14): the slow-operation check on Ruby spans, monitor, event
# sampling with its counts, and changes at run time.
class RuntimeTest < Minitest::Test
  include TestSupport

  PROM = { "OTEL_METRICS_EXPORTER" => "prometheus", "TASKER_PROMETHEUS_SERVE" => "false", "TASKER_LOG_LEVEL" => "info" }.freeze

  def test_a_slow_ruby_span_is_reported_and_counted
    out, lines, status, err = run_ruby(<<~RUBY, PROM.merge("TASKER_SLOW_THRESHOLD_MS" => "50"))
      T = TaskerCore::Tracing
      T.with_correlation(correlation_id: "0190e7c4-5d2a-7cc0-a7a3-4f1d0c9a0b11") do
        T.span("slow_step") { sleep 0.12 }
        T.span("quick_step") { nil }
      end
      puts T.prometheus_text
    RUBY
    assert status.success?, err
    slow = lines.select { |l| l["message"].start_with?("slow_operation") }
    assert_equal 1, slow.size, err
    fields = slow.first["fields"]
    assert_equal "WARN", slow.first["level"]
    assert_equal "slow_step", fields["operation"]
    assert_equal 50, fields["threshold_ms"]
    assert_operator fields["duration_ms"], :>=, 100
    assert_equal "0190e7c4-5d2a-7cc0-a7a3-4f1d0c9a0b11", slow.first["correlation_id"] || fields["correlation_id"]
    assert_includes out, 'tasker_slow_operations_total{operation="slow_step"'
  end

  def test_monitor_reports_duration_and_a_memory_spike
    out, lines, status, err = run_ruby(<<~RUBY, PROM.merge("TASKER_MEMORY_THRESHOLD_MB" => "1"))
      T = TaskerCore::Tracing
      handle = nil
      value = T.monitor("import_batch") { |m| handle = m; ("x" * (48 * 1024 * 1024)).size }
      report = handle.report
      puts "VALUE \#{value}"
      puts "REPORT \#{report.duration_ms >= 0} \#{report.memory_delta_bytes > 32 * 1024 * 1024} \#{report.memory_spike?} \#{report.slow?}"
      begin
        T.monitor("failing") { raise ArgumentError, "bad" }
      rescue ArgumentError
        puts "PROPAGATED"
      end
    RUBY
    assert status.success?, err
    assert_includes out, "VALUE #{48 * 1024 * 1024}"
    assert_includes out, "REPORT true true true false"
    assert_includes out, "PROPAGATED"
    spikes = lines.select { |l| l["message"].start_with?("memory_spike") }
    assert_equal ["import_batch"], spikes.map { |l| l["fields"]["operation"] }
  end

  def test_sampling_suppresses_and_counts_but_errors_pass
    out, lines, status, err = run_ruby(<<~RUBY, PROM.merge("TASKER_EVENTS_SAMPLE_RATE" => "0"))
      T = TaskerCore::Tracing
      200.times { |i| T.info("heartbeat", i: i) }
      T.error("payment failed")
      puts T.prometheus_text
    RUBY
    assert status.success?, err
    messages = lines.map { |l| l["message"] }
    refute_includes messages, "heartbeat"
    assert_includes messages, "payment failed"
    assert_includes out, 'tasker_telemetry_suppressed_total{reason="sampled"'
  end

  def test_level_changes_at_run_time_and_bad_ones_are_refused
    out, lines, status, err = run_ruby(<<~RUBY, { "TASKER_LOG_LEVEL" => "info" })
      T = TaskerCore::Tracing
      T.debug("hidden")
      puts "CHANGES \#{T.set_level(:debug).inspect}"
      T.debug("now shown")
      begin
        T.set_level("loud")
      rescue T::ConfigError => e
        puts "REFUSED \#{e.message.include?('telemetry.logging.level')}"
      end
      puts "RUNTIME \#{T.set_runtime(slow_operations_threshold_ms: 5).inspect}"
    RUBY
    assert status.success?, err
    messages = lines.map { |l| l["message"] }
    refute_includes messages, "hidden"
    assert_includes messages, "now shown"
    assert_includes out, "REFUSED true"
    assert_includes out, "telemetry.slow_operations.threshold_ms: 1000 → 5"
  end

  def test_set_runtime_is_all_or_nothing
    out, _lines, status, err = run_ruby(<<~RUBY, { "TASKER_LOG_LEVEL" => "info" })
      T = TaskerCore::Tracing
      begin
        T.set_runtime(logging_level: "debug", events_sample_rate: 2)
      rescue T::ConfigError => e
        puts "REFUSED \#{e.message.include?('events')}"
      end
      puts "DEBUG \#{T.enabled?(:debug)}"
    RUBY
    assert status.success?, err
    assert_includes out, "REFUSED true"
    assert_includes out, "DEBUG false"
  end
end
