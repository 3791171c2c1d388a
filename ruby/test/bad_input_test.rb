# frozen_string_literal: true

require_relative "test_helper"

# Bad input from Ruby: every public method called with wrong types, nil, NaN, huge, binary and
# invalid UTF-8 strings, objects whose to_s/inspect raise, a BasicObject, cyclic and deeply
# nested structures and odd hash keys either works (the documented conversion) or raises
# TaskerCore::Tracing::Error with a message; nothing else escapes, the interpreter never
# crashes, and the surrounding span is never lost. Prints a FIGURES line with the counts.
class BadInputTest < Minitest::Test
  include TestSupport

  def self.bad_values
    unprintable = Object.new
    def unprintable.to_s = raise("no to_s")
    def unprintable.inspect = raise("no inspect")
    cyclic_hash = { a: 1 }
    cyclic_hash[:self] = cyclic_hash
    cyclic_array = [1]
    cyclic_array << cyclic_array
    deep = []
    current = deep
    5000.times do
      nested = []
      current << nested
      current = nested
    end
    {
      "nil" => nil, "int" => 42, "negative" => -1, "float" => 3.5, "nan" => Float::NAN,
      "infinity" => Float::INFINITY, "true" => true, "bignum" => 2**200, "binary" => "\xff\xfe binary".b,
      "invalid_utf8" => "caf\xC3 au lait", "10MB" => "x" * (10 * 1024 * 1024), "object" => Object.new,
      "unprintable" => unprintable, "basic_object" => BasicObject.new, "cyclic_hash" => cyclic_hash,
      "cyclic_array" => cyclic_array, "deep" => deep, "odd_keys" => { 1 => 2, [1, 2] => 3, nil => 4, unprintable => 5 },
      "complex" => Complex(1, 2), "symbol" => :sym, "time" => Time.at(0), "range" => (1..),
      "proc" => -> { 1 }
    }
  end

  BAD = bad_values.freeze

  # +value+ usable as a Hash key (a BasicObject has no #hash).
  def key(value) = Kernel === value ? value : "basic_object" # rubocop:disable Style/CaseEquality

  def calls(span, logger)
    {
      "span(name)" => ->(b) { T.span(b) { nil } },
      "span(level)" => ->(b) { T.span(b, "named") { nil } },
      "span(field)" => ->(b) { T.span("s", field: b) { nil } },
      "span(field key)" => ->(b) { T.span("s", **{ key(b) => 1 }) { nil } },
      "start_span" => ->(b) { T.start_span(b, field: b).finish },
      "with_span" => ->(b) { T.with_span(b) { nil } },
      "handler_span(name)" => ->(b) { T.handler_span(b) { nil } },
      "handler_span(context)" => ->(b) { T.handler_span("h", b) { nil } },
      "handler_span(context value)" => ->(b) { T.handler_span("h", { correlation_id: b, attempt: b }) { nil } },
      "event(level)" => ->(b) { T.event(b, "m") },
      "event(message)" => ->(b) { T.event(:info, b) },
      "info(message)" => ->(b) { T.info(b) },
      "info(fields)" => ->(b) { T.info("m", b) },
      "info(field)" => ->(b) { T.info("m", field: b) },
      "warn/error/fatal" => ->(b) { T.warn(b, f: b) && T.error(b) && T.fatal(b) },
      "debug { block }" => ->(b) { T.debug { [b, { f: b }] } },
      "enabled?" => ->(b) { T.enabled?(b) },
      "level_index" => ->(b) { T.level_index(b) },
      "with_correlation(correlation_id)" => ->(b) { T.with_correlation(correlation_id: b) { nil } },
      "with_correlation(task_uuid)" => ->(b) { T.with_correlation(task_uuid: b) { nil } },
      "with_correlation(namespace)" => ->(b) { T.with_correlation(namespace: b) { nil } },
      "with_remote_context(headers)" => ->(b) { T.with_remote_context(b) { T.info("in remote") } },
      "with_remote_context(value)" => ->(b) { T.with_remote_context({ "traceparent" => b, key(b) => "x" }) { nil } },
      "with_context" => ->(b) { T.with_context(b) { nil } },
      "run_step(message)" => ->(b) { T.run_step(b) { 1 } },
      "run_step(message value)" => ->(b) { T.run_step({ step_name: b, attempt: b }) { 1 } },
      "counter(name)" => ->(b) { T.counter(b) },
      "counter(value)" => ->(b) { T.counter("ruby_bad_input", b) },
      "counter(label)" => ->(b) { T.counter("ruby_bad_input", 1, label: b) },
      "up_down_counter/histogram/gauge" => lambda { |b|
        T.up_down_counter("ruby_bad_u", b) && T.histogram("ruby_bad_h", b) && T.gauge("ruby_bad_g", b)
      },
      "lifecycle(name)" => ->(b) { T.lifecycle(b) },
      "lifecycle(duration_ms)" => ->(b) { T.lifecycle("step.completed", duration_ms: b) },
      "lifecycle(labels)" => ->(b) { T.lifecycle("step.completed", labels: b) },
      "lifecycle(field)" => ->(b) { T.lifecycle("step.completed", field: b) },
      "flush(timeout)" => ->(b) { T.flush(timeout: b) },
      "init(config_path)" => ->(b) { T.init(config_path: b) },
      "init(override)" => ->(b) { T.init(service_name: b) },
      "Span#set(key)" => ->(b) { span.set(b, 1) },
      "Span#[]=" => ->(b) { span[b] = b },
      "Span#add_event" => ->(b) { span.add_event(b, f: b) },
      "Span#record_exception" => ->(b) { span.record_exception(b) },
      "Span#set_error" => ->(b) { span.set_error(b) },
      "Logger#info" => ->(b) { logger.info(b) },
      "Logger#add(severity)" => ->(b) { logger.add(b, "m") },
      "Logger#warn(fields)" => ->(b) { logger.warn("m", field: b) },
      "Logger#<<" => ->(b) { logger << b },
      "Logger.new(progname)" => ->(b) { TaskerCore::Tracing::Logger.new(progname: b).info("x") }
    }
  end

  def test_every_public_method_works_or_raises_the_gems_error
    name = unique("surrounding")
    outcomes = Hash.new(0)
    others = []
    messages = []
    logger = TaskerCore::Tracing::Logger.new(progname: "bad_input")
    functions = 0
    T.span(name, marker: "kept") do |outer|
      T.span("#{name}_target") do |target|
        table = calls(target, logger)
        functions = table.size
        table.each do |label, call|
          BAD.each do |value_name, bad|
            call.call(bad)
            outcomes[:worked] += 1
          rescue T::Error => e
            outcomes[:error] += 1
            messages << e.message
          rescue Exception => e # rubocop:disable Lint/RescueException -- what the test is about
            others << "#{label} with #{value_name}: #{e.class}: #{e.message[0, 200]}"
          end
        end
      end
      outer[:after] = "still here"
    end
    assert_empty others, "other exceptions escaped:\n#{others.join("\n")}"
    assert(messages.all? { |m| !m.strip.empty? })
    outer = COLLECTOR.span(name)
    assert_equal "kept", outer[:attributes]["marker"]
    assert_equal "still here", outer[:attributes]["after"]
    calls_made = functions * BAD.size
    assert_equal calls_made, outcomes[:worked] + outcomes[:error]
    line = JSON.generate(test: "bad_input_ruby", lang: "ruby", load: "#{calls_made} calls inside one span", faults: "-",
                         bad_inputs: "#{functions} public entry points x #{BAD.size} values (#{BAD.keys.join(', ')})",
                         lost: 0, worked: outcomes[:worked], raised_tracing_error: outcomes[:error],
                         other_exceptions: others.size, interpreter_crashes: 0, surrounding_span_kept: true)
    puts "\nFIGURES #{line}"
    File.write(ENV["TASKER_FIGURES_FILE"], "#{line}\n", mode: "a") if ENV["TASKER_FIGURES_FILE"]
  end

  def test_documented_conversions_of_odd_input
    name = unique("odd")
    basic = BasicObject.new
    T.span("#{name}_\xff".b, basic: basic, binary: "\xff".b) do |span|
      span.add_event("caf\xC3", detail: "x" * 20_000)
      span.set(:int_key, 2**70)
    end
    span = COLLECTOR.span("#{name}_\u{fffd}")
    assert_equal "<unprintable BasicObject>", span[:attributes]["basic"]
    assert_equal "\u{fffd}", span[:attributes]["binary"]
    assert_equal (2**70).to_s, span[:attributes]["int_key"]
    assert_includes span[:events], "caf\u{fffd}"
    err = assert_raises(T::Error) { T.flush(timeout: Float::NAN) }
    assert_match(/invalid timeout NaN/, err.message)
    err = assert_raises(T::Error) { T.with_span(BasicObject.new) { nil } }
    assert_match(/got BasicObject/, err.message)
    err = assert_raises(T::Error) { T.counter("c", Complex(1, 2)) }
    assert_match(/not a real number/, err.message)
    err = assert_raises(T::Error) { T.counter("9lives") }
    assert_match(/start with a letter/, err.message)
    err = assert_raises(T::Error) { T.counter("c", -1) }
    assert_match(/only goes up/, err.message)
  end

  def test_invalid_environment_variables_name_the_variable_the_value_and_what_is_allowed
    {
      "OTEL_EXPORTER_OTLP_PROTOCOL" => ["udp", "grpc, http/protobuf"],
      "OTEL_BSP_MAX_QUEUE_SIZE" => ["0", "an integer from 1"],
      "TASKER_SHUTDOWN_TIMEOUT_MS" => ["forever", "an integer from 0"],
      "OTEL_TRACES_SAMPLER_ARG" => ["2", "0.0 to 1.0"]
    }.each do |var, (value, allowed)|
      out, _lines, status, err = run_ruby(<<~RUBY, var => value, "TASKER_TRACING_AUTO_INIT" => "0")
        begin
          TaskerCore::Tracing.init
        rescue TaskerCore::Tracing::Error => e
          print e.message
        end
      RUBY
      assert status.success?, err
      assert_includes out, var
      assert_includes out, %("#{value}")
      assert_includes out, allowed
    end
  end
end
