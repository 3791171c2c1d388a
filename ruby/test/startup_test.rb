# frozen_string_literal: true

require_relative "test_helper"

# Start-up, decided by the core the same way as in Python: an invalid setting at require never
# silences output; init after the automatic start applies its overrides; a second init is a
# ConfigError in Ruby's words; flush waits the configured shutdown timeout by default.
class StartupTest < Minitest::Test
  include TestSupport

  def run_plain(script, env)
    env = { "OTEL_EXPORTER_OTLP_ENDPOINT" => nil, "TASKER_LOG_LEVEL" => nil, "OTEL_SERVICE_NAME" => nil }.merge(env)
    Open3.capture3(env, RbConfig.ruby, "-rtasker_core/tracing", "-e", script)
  end

  def test_an_invalid_setting_at_require_keeps_the_console_and_says_which
    # Before: "console logging uses the defaults", then nothing at all for the life of the
    # process, errors included; enabled?(:error) false, spans NullSpan.
    out, err, status = run_plain(<<~RUBY, "TASKER_LOG_FORMAT" => "jsonl")
      T = TaskerCore::Tracing
      puts "ENABLED \#{T.enabled?(:error)}"
      puts "SPAN \#{T.span("s") { |s| s.class }}"
      T.error("still printed")
    RUBY
    assert status.success?, err
    assert_includes out, "ENABLED true"
    assert_includes out, "SPAN TaskerCore::Tracing::Native::Span"
    assert_includes err, "still printed"
    problem = err.lines.grep(/TASKER_LOG_FORMAT/)
    assert_equal 1, problem.size, err
    ['"jsonl"', "pretty, json, compact", "console logging uses the defaults"].each { |p| assert_includes problem[0], p }
  end

  def test_init_after_the_automatic_start_applies_overrides_and_a_second_init_is_a_config_error
    # Before: init raised "already initialised ... keep the returned guard" whenever an export
    # variable was set (the example worker crashed at boot in the deployed environment).
    Dir.mktmpdir do |tmp|
      file = File.join(tmp, "spans.jsonl")
      out, err, status = run_plain(<<~RUBY, "TASKER_OTLP_FILE" => file)
        T = TaskerCore::Tracing
        T.span("before_init") { nil }
        T.init(service_name: "worker")
        T.span("after_init") { nil }
        begin
          T.init
        rescue T::ConfigError => e
          puts "AGAIN \#{e.class} \#{e.message}"
        end
      RUBY
      assert status.success?, err
      assert_includes out, "AGAIN TaskerCore::Tracing::ConfigError TaskerCore::Tracing.init was already called"
      refute_includes out, "guard"
      written = File.read(file)
      assert_includes written, "before_init"
      assert_includes written, "after_init"
      assert_includes written, '"worker"'
    end
  end

  def test_init_overrides_take_ruby_values
    _out, err, status = run_plain(<<~RUBY, {})
      TaskerCore::Tracing.init(service_name: nil, logging_format: "json", logging_redact_keys: ["pin"],
                               otlp_timeout_ms: 250, logging_export_logs: false)
      TaskerCore::Tracing.info("x", pin: "1234", password: "kept")
    RUBY
    assert status.success?, err
    line = err.lines.filter_map { |l| JSON.parse(l) rescue nil }.last # rubocop:disable Style/RescueModifier
    assert_equal({ "pin" => "[REDACTED]", "password" => "kept" }, line["fields"])
  end

  def test_configuration_errors_are_config_errors_and_others_are_not
    err = assert_raises(T::ConfigError) { T.init(otlp_protocol: "carrier-pigeon") }
    assert_includes err.message, "telemetry.otlp.protocol"
    assert_includes err.message, "carrier-pigeon"
    err = assert_raises(T::Error) { T.flush(timeout: -1) }
    refute_kind_of T::ConfigError, err
  end

  def test_flush_waits_the_configured_shutdown_timeout_by_default
    # Before: flush waited 5 s whatever telemetry.otlp.shutdown_timeout_ms said.
    out, err, status = run_plain(<<~RUBY, "TASKER_SHUTDOWN_TIMEOUT_MS" => "300")
      require "socket"
      server = TCPServer.new("127.0.0.1", 0)
      TaskerCore::Tracing.init(otlp_endpoint: "http://127.0.0.1:\#{server.addr[1]}", otlp_timeout_ms: 5000)
      TaskerCore::Tracing.span("pending") { nil }
      started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
      begin
        TaskerCore::Tracing.flush
      rescue TaskerCore::Tracing::Error
        nil
      end
      puts "ELAPSED \#{Process.clock_gettime(Process::CLOCK_MONOTONIC) - started}"
      exit!(0)
    RUBY
    assert status.success?, err
    assert_operator out[/ELAPSED (\S+)/, 1].to_f, :<, 3.0
  end

  def test_python_and_ruby_spellings_of_levels_keep_error_lines
    %w[WARNING critical FATAL Error].each do |value|
      _out, err, status = run_plain('TaskerCore::Tracing.error("still printed"); TaskerCore::Tracing.info("filtered out")',
                                    "TASKER_LOG_LEVEL" => value)
      assert status.success?, err
      assert_includes err, "still printed", value
      refute_includes err, "filtered out", "the level applies"
      refute_includes err, "ERROR tasker_telemetry", "the value is accepted, not replaced by defaults"
    end
  end

  def test_warning_critical_and_fatal_methods_exist_as_in_python
    assert T.respond_to?(:warning) && T.respond_to?(:critical) && T.respond_to?(:fatal)
    assert T.exporting?
  end
end
