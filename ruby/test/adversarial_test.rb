# frozen_string_literal: true

# Regression tests for the defects adversarial testing found (issue "No crash, no hang, no
# leak"): each reproduction, made into an assertion.
require_relative "test_helper"
require "timeout"

class AdversarialTest < Minitest::Test
  include TestSupport

  # A value whose to_s empties the hash being converted and runs the GC: the glue used to hold
  # the hash's keys and values where the GC could not see them (segfault in class_name).
  def test_a_to_s_that_clears_the_hash_and_collects_garbage_does_not_crash
    out, lines, status, err = run_ruby(<<~RUBY)
      T = TaskerCore::Tracing
      class Wiper
        def initialize(h) = @h = h
        def to_s
          @h.clear
          GC.start(full_mark: true, immediate_sweep: true)
          "wiped"
        end
      end
      50.times do |i|
        h = {}
        h[:w] = Wiper.new(h)
        20.times { |j| h["key\#{j}_" + "x" * 40] = Object.new }
        T.info("m", data: h)
        T.info("m2", **{ w: Wiper.new(h), other: Object.new })
      end
      puts "survived"
    RUBY
    assert status.success?, "the process crashed: #{err[0, 2000]}"
    assert_equal "survived\n", out
    assert_equal 100, lines.count { |l| l.to_s.include?("wiped") }, err[0, 2000]
  end

  class Thrower
    def to_s = throw(:escape, :thrown)
  end

  class Raiser
    def to_s = raise(ArgumentError, "no text")
  end

  def test_throw_from_to_s_reaches_its_catch_and_later_calls_still_work
    result = catch(:escape) do
      T.info("with a throwing field", v: Thrower.new)
      :not_thrown
    end
    assert_equal :thrown, result
    ran = false
    T.span("after the throw", v: Raiser.new) { ran = true }
    assert ran, "the block of a span after a swallowed throw did not run"
    result = catch(:escape) { T.span("throwing span field", v: Thrower.new) { :ran } }
    assert_equal :thrown, result
  end

  def test_ordinary_errors_in_to_s_still_become_the_marker
    name = unique("unprintable")
    T.span(name, v: Raiser.new) {}
    span = COLLECTOR.span(name)
    assert_equal "<unprintable AdversarialTest::Raiser>", span[:attributes]["v"]
  end

  class Slow
    def to_s
      sleep 5
      "slow"
    end
  end

  def test_timeout_error_raised_during_to_s_is_not_swallowed
    started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    assert_raises(Timeout::Error) { Timeout.timeout(0.2) { T.info("slow field", v: Slow.new) } }
    assert_operator Process.clock_gettime(Process::CLOCK_MONOTONIC) - started, :<, 3
  end

  def test_thread_kill_during_to_s_kills_the_thread
    after = Queue.new
    thread = Thread.new do
      T.info("killed while converting", v: Slow.new)
      after << :continued
    end
    sleep 0.2
    thread.kill
    assert thread.join(3), "the thread did not end"
    assert after.empty?, "the log call swallowed Thread#kill and the thread went on"
  end

  def test_interrupt_and_system_exit_from_to_s_propagate
    [Interrupt, SystemExit].each do |klass|
      value = Object.new
      value.define_singleton_method(:to_s) { raise klass }
      assert_raises(klass) { T.warn("interrupted", v: value) }
      assert_raises(klass) { T.span("interrupted span", v: value) { flunk "the block ran" } }
    end
  end

  def test_strings_in_other_encodings_are_transcoded
    name = "caf\u00e9 \u65e5\u672c".encode("UTF-16LE")
    value = "\u00fcber".encode("ISO-8859-1")
    sjis = "\u65e5\u672c\u8a9e".encode("Shift_JIS")
    T.span(name, latin: value, sjis: sjis, "k\u00e9y".encode("UTF-16BE") => 1) {}
    span = COLLECTOR.span("caf\u00e9 \u65e5\u672c")
    assert_equal "\u00fcber", span[:attributes]["latin"]
    assert_equal "\u65e5\u672c\u8a9e", span[:attributes]["sjis"]
    assert_equal "1", span[:attributes]["k\u00e9y"]
  end

  # A collector that accepts connections and never answers, and 20 spans queued for it.
  HUNG = <<~RUBY
    require "socket"
    $stdout.sync = true
    T = TaskerCore::Tracing
    server = TCPServer.new("127.0.0.1", 0)
    held = []
    Thread.new { loop { held << server.accept } }
    T.init(service_name: "hung", otlp_endpoint: "http://127.0.0.1:\#{server.addr[1]}", otlp_timeout_ms: 60_000,
           otlp_shutdown_timeout_ms: 1000, metrics_enabled: false)
    20.times { |i| T.span("queued", i: i) { nil } }
    def now = Process.clock_gettime(Process::CLOCK_MONOTONIC)
  RUBY

  def test_fork_does_not_wait_for_a_hung_collector_nor_stall_other_threads
    # Before: fork flushed for up to 1 s with the GVL held (a 10 ms ticker stalled 1.009 s).
    out, _lines, status, err = run_ruby(HUNG + <<~RUBY)
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
      took = 5.times.map do
        started = now
        pid = fork { exit!(0) }
        elapsed = now - started
        Process.wait(pid)
        elapsed
      end
      sleep 0.05
      ticker.kill
      puts "FORK_MS \#{(took.max * 1000).round(1)} TICK_MS \#{(gaps.max * 1000).round(1)}"
      exit!(0)
    RUBY
    assert status.success?, err
    fork_ms, tick_ms = out.scan(/[\d.]+/).map(&:to_f)
    assert_operator fork_ms, :<, 500, out
    assert_operator tick_ms, :<, 500, out
  end

  def test_flush_reacts_to_thread_raise_and_ctrl_c
    # Before: flush(timeout: 20) ignored both until it returned, 20 s later.
    out, _lines, status, err = run_ruby(HUNG + <<~RUBY)
      main = Thread.current
      Thread.new { sleep 0.3; main.raise(RuntimeError, "stop waiting") }
      started = now
      begin
        T.flush(timeout: 20)
        puts "NOT INTERRUPTED"
      rescue RuntimeError => e
        puts "RAISED_AFTER_MS \#{((now - started - 0.3) * 1000).round(1)} \#{e.message}"
      end
      # Ctrl-C comes from outside the process. A parent that ignores SIGINT (a background job
      # of a shell without job control) passes that on: restore Ruby's default first.
      trap("INT", "DEFAULT")
      Process.detach(Process.spawn("sh", "-c", "sleep 0.3; kill -INT \#{Process.pid}"))
      started = now
      begin
        T.flush(timeout: 20)
        puts "NOT INTERRUPTED"
      rescue Interrupt
        puts "INTERRUPTED_AFTER_MS \#{((now - started - 0.3) * 1000).round(1)}"
      end
      exit!(0)
    RUBY
    assert status.success?, err
    refute_includes out, "NOT INTERRUPTED"
    raised = out[/RAISED_AFTER_MS ([\d.]+) stop waiting/, 1]
    interrupted = out[/INTERRUPTED_AFTER_MS ([\d.]+)/, 1]
    assert raised && interrupted, out
    assert_operator raised.to_f, :<, 2000, out
    assert_operator interrupted.to_f, :<, 2000, out
  end

  # --- Secrets, forged lines, baggage (the core's rules, seen from Ruby) ---------------------

  def test_secrets_in_messages_and_exception_messages_are_scrubbed
    _out, _lines, status, err = run_ruby(<<~RUBY)
      T = TaskerCore::Tracing
      T.warn("login failed password=hunter2 for ann", "x-api-key": "k-123", url: "https://u:pw-1@db/x?token=t-9")
      begin
        T.span("scrubbed") { raise ArgumentError, "connect failed: api_key=k-456" }
      rescue ArgumentError
        nil
      end
      T.error("after", error: "api_key=k-789")
    RUBY
    assert status.success?, err
    %w[hunter2 k-123 pw-1 t-9 k-789].each { |secret| refute_includes err, secret }
    assert_includes err, "password=[REDACTED]"
    name = unique("exception_scrubbed")
    assert_raises(ArgumentError) { T.span(name) { raise ArgumentError, "connect failed: api_key=k-456" } }
    span = COLLECTOR.span(name)
    refute_includes span.to_s, "k-456"
  end

  def test_the_collector_url_is_printed_without_its_credentials
    env = { "OTEL_EXPORTER_OTLP_ENDPOINT" => "http://user:pw-secret@127.0.0.1:1/?api_key=k-secret",
            "OTEL_EXPORTER_OTLP_TIMEOUT" => "500" }
    out, _lines, _status, err = run_ruby(<<~RUBY, env)
      TaskerCore::Tracing.span("lost") { nil }
      begin
        TaskerCore::Tracing.flush(timeout: 3)
      rescue TaskerCore::Tracing::Error => e
        puts e.message
      end
    RUBY
    text = out + err
    assert_includes text, "127.0.0.1:1"
    refute_includes text, "pw-secret"
    refute_includes text, "k-secret"
  end

  def test_pretty_and_compact_lines_cannot_be_forged
    %w[pretty compact].each do |format|
      _out, _lines, status, err = run_ruby(<<~'RUBY', "TASKER_LOG_FORMAT" => format)
        TaskerCore::Tracing.span("span\nFAKE") do
          TaskerCore::Tracing.warn("ok\nFAKE ERROR line \e]0;pwned\a", "k\ney": "v\r\nx")
        end
      RUBY
      assert status.success?, err
      forged = err.lines.select { |l| l.include?("FAKE ERROR") }
      assert_equal 1, forged.size, err
      refute_match(/[\x00-\x08\x0b-\x1f\x7f]/, forged[0].chomp)
      assert_includes forged[0], "ok\\nFAKE ERROR line"
    end
  end

  CID = "0190e7c4-5d2a-7cc0-a7a3-4f1d0c9a0c42"

  def test_oversized_baggage_keeps_its_first_entries_and_inject_forwards_upstream_entries
    headers = { "traceparent" => "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                "baggage" => "correlation_id=#{CID},tenant=acme,big=#{"x" * 9000}" }
    seen = T.run_step(step_name: unique("baggage"), headers: headers) { [T.current_correlation_id, T.inject] }
    assert_equal CID, seen[0]
    baggage = seen[1]["baggage"]
    assert_includes baggage, "tenant=acme"
    assert_includes baggage, "correlation_id=#{CID}"
    refute_includes baggage, "big="
    assert_operator baggage.bytesize, :<=, 8192
  end

  # --- Found in review ---------------------------------------------------------------------

  def test_a_step_message_with_many_keys_keeps_its_step_name_and_headers
    name = unique("crowded")
    message = (0...300).to_h { |i| ["input_#{i}", i] }
    message[:step_name] = name
    message[:headers] = { "traceparent" => "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" }
    T.run_step(message) { nil }
    span = COLLECTOR.span("execute_step") { |s| s[:attributes]["step_name"] == name }
    assert_equal "0af7651916cd43dd8448eb211c80319c", span[:trace_id]
  end

  class Appender
    def initialize(array) = @array = array

    def to_s
      @array << Appender.new(@array)
      "appended"
    end
  end

  def test_a_to_s_that_grows_the_array_being_converted_ends
    array = []
    array << Appender.new(array)
    T.warn("growing", items: array)
    assert_operator array.size, :<=, 2
  end

  def test_a_config_path_that_is_not_a_regular_file_is_refused_at_once
    Dir.mktmpdir do |dir|
      fifo = File.join(dir, "config.fifo")
      File.mkfifo(fifo)
      ["/dev/zero", fifo].each do |path|
        out, _lines, status, err = run_ruby('puts "loaded"', "TASKER_CONFIG" => path)
        assert status.success?, err
        assert_equal "loaded\n", out
        assert_includes err, path
        assert_includes err, "not a regular file"
      end
    end
  end
end
