# frozen_string_literal: true

require_relative "test_helper"
require "stringio"

# TaskerCore::Tracing::Logger as a drop-in ::Logger: the constructor, the call forms and the
# level/formatter/progname semantics of ::Logger, with the lines going through the core.
class LoggerCompatTest < Minitest::Test
  include TestSupport

  L = TaskerCore::Tracing::Logger

  def test_accepts_every_form_of_the_logger_constructor_and_never_touches_the_device
    io = StringIO.new
    path = File.join(Dir.tmpdir, "#{unique('logger_path')}.log")
    formatter = proc { |_s, _t, _p, m| "#{m}\n" }
    loggers = {
      "nil" => L.new(nil),
      "$stdout" => L.new($stdout),
      "StringIO" => L.new(io),
      "path" => L.new(path),
      "path + shift_age/shift_size" => L.new(path, 3, 1024),
      "path + period" => L.new(path, "daily", binmode: true, shift_period_suffix: "%Y"),
      "File::NULL" => L.new(File::NULL),
      "keywords only" => L.new(progname: "kw")
    }
    loggers.each do |form, logger|
      assert_kind_of ::Logger, logger, form
      assert_equal ::Logger::DEBUG, logger.level, form
      assert logger.info("through #{form}"), form
    end
    assert_nil loggers["nil"].progname
    assert_nil loggers["nil"].formatter
    assert_nil loggers["nil"].datetime_format
    assert_equal "", io.string, "the core owns the sink: nothing is written to the given IO"
    refute File.exist?(path), "the core owns the sink: no log file is created"

    full = L.new(io, progname: :prog, level: :warn, formatter: formatter, datetime_format: "%H:%M")
    assert_equal :prog, full.progname
    assert_equal ::Logger::WARN, full.level
    assert_same formatter, full.formatter
    assert_equal "%H:%M", full.datetime_format
    assert_same full, full.reopen($stderr)
    assert_nil full.close
    refute io.closed?, "close leaves the given IO alone"
    assert_raises(ArgumentError) { L.new(nil, level: :nonsense) } # as ::Logger
  end

  def test_lines_from_a_logger_built_on_stdout_go_through_the_core_not_the_io
    out, lines, status, err = run_ruby(<<~RUBY)
      logger = TaskerCore::Tracing::Logger.new($stdout)
      logger.info("to the core")
      logger << "raw\\n"
    RUBY
    assert status.success?, err
    assert_equal "", out
    line = lines.find { |l| l["message"] == "to the core" }
    assert line, err
    assert_equal "INFO", line["level"]
    assert_equal "ruby", line["target"]
    assert lines.any? { |l| l["message"] == "raw" }
  end

  def test_logger_call_forms_keep_logger_semantics
    _out, lines, status, err = run_ruby(<<~RUBY)
      logger = TaskerCore::Tracing::Logger.new(STDERR, progname: "worker")
      logger.info("MyProg") { "block message" }
      logger.add(Logger::INFO, nil, "progname as message")
      logger.add(Logger::INFO) { "add with block" }
      logger.add(Logger::WARN, "add message", "AddProg")
      logger.debug { "debug block" }
      logger.info("plain")
      logger.fatal("the end")
      logger.unknown("who knows")
      logger.add(nil, "nil severity")
      logger.info(false)
      logger.info(:sym)
      logger.info(message: "hash message", order_id: 7)
      logger.info({ "message" => "string key", n: 1 })
      logger.error(ArgumentError.new("bad thing"))
      logger.progname = "renamed"
      logger.info("after rename")
      logger.progname = nil
      logger.info("no progname")
      TaskerCore::Tracing::Logger.new(progname: "p", target: "explicit.target").info("explicit")
    RUBY
    assert status.success?, err
    by = ->(m) { lines.find { |l| l["message"] == m } || flunk("no line #{m.inspect} in\n#{err}") }

    block = by.("block message")
    assert_equal "ruby.MyProg", block["target"], "info(progname) { msg }: the argument is the progname"
    refute lines.any? { |l| l["message"] == "MyProg" }
    assert_equal "ruby.worker", by.("progname as message")["target"]
    assert_equal "ruby.worker", by.("add with block")["target"]
    assert_equal "ruby.AddProg", by.("add message")["target"]
    assert_equal "DEBUG", by.("debug block")["level"]
    assert_equal "ruby.worker", by.("plain")["target"]
    assert_equal "WARN", by.("add message")["level"]

    fatal = by.("the end")
    assert_equal "ERROR", fatal["level"]
    assert_equal "FATAL", fatal["fields"]["severity"]
    %w[who\ knows nil\ severity].each do |m|
      assert_equal "ERROR", by.(m)["level"]
      assert_equal "ANY", by.(m)["fields"]["severity"]
    end
    assert by.("false"), "a non-String message is inspected, as ::Logger"
    assert by.(":sym")
    assert_equal 7, by.("hash message")["fields"]["order_id"]
    assert_equal 1, by.("string key")["fields"]["n"]
    error = by.("bad thing")
    assert_equal "ArgumentError", error["fields"]["exception.type"]
    assert_equal "bad thing", error["fields"]["exception.message"]
    assert_equal "ruby.renamed", by.("after rename")["target"]
    assert_equal "ruby", by.("no progname")["target"]
    assert_equal "explicit.target", by.("explicit")["target"]
  end

  def test_odd_arguments_never_raise_and_keep_the_line
    out, lines, status, err = run_ruby(<<~RUBY)
      logger = TaskerCore::Tracing::Logger.new(nil, progname: "odd")
      results = []
      results << logger.info("second is a string", "str")
      results << logger.info("second is a hash", { a: 1 })
      results << logger.warn("keywords", ms: 830)
      results << logger.info("many", "a", 2, b: 3)
      results << logger.add(Logger::INFO, "add extras", nil, { c: 4 }, "d")
      results << logger.add(:warn, "symbol severity")
      results << logger.add(BasicObject.new, "odd severity")
      results << logger.add(2**70, "huge severity")
      results << logger.info(BasicObject.new)
      bad = Object.new
      def bad.to_s = raise("to_s boom")
      def bad.inspect = raise("inspect boom")
      results << logger.info(bad)
      results << logger.info("odd progname") { "odd progname block" }
      results << TaskerCore::Tracing::Logger.new(progname: bad).info("bad progname")
      results << logger.info { raise "block boom" }
      results << (logger << bad).equal?(logger)
      results << logger.info("still works")
      print results.inspect
    RUBY
    assert status.success?, err
    assert_equal ([true] * 15).inspect, out
    by = ->(m) { lines.find { |l| l["message"] == m } || flunk("no line #{m.inspect} in\n#{err}") }
    assert_equal "str", by.("second is a string")["fields"]["extra"]
    assert_equal 1, by.("second is a hash")["fields"]["a"]
    assert_equal 830, by.("keywords")["fields"]["ms"]
    many = by.("many")["fields"]
    assert_equal 3, many["b"]
    extra = many["extra"]
    assert_equal ["a", 2], String === extra ? JSON.parse(extra) : extra
    extras = by.("add extras")["fields"]
    assert_equal [4, "d"], [extras["c"], extras["extra"]]
    assert_equal "WARN", by.("symbol severity")["level"]
    assert_equal "ANY", by.("odd severity")["fields"]["severity"]
    assert_equal "ERROR", by.("huge severity")["level"]
    assert by.("#<BasicObject>")
    assert by.("#<Object>"), "an inspect that raises gives a placeholder"
    assert_equal "ruby.odd progname", by.("odd progname block")["target"]
    assert_match(/\Aruby\.#<Object/, by.("bad progname")["target"])
    assert by.("still works")
    assert_equal 1, err.scan("reported once").size, err
  end

  def test_level_and_predicates_follow_logger_and_the_cores_level
    # warn for the console and for export: the core then records nothing below warn
    out, _lines, status, err = run_ruby(<<~RUBY, "TASKER_LOG_LEVEL" => "warn", "TASKER_EXPORT_LEVEL" => "warn")
      logger = TaskerCore::Tracing::Logger.new($stdout)
      row = -> { [logger.debug?, logger.info?, logger.warn?, logger.error?, logger.fatal?].map { |b| b ? 1 : 0 }.join }
      rows = [row.()]
      logger.level = :error
      rows << row.()
      logger.level = "FATAL"
      rows << row.()
      logger.level = Logger::UNKNOWN
      rows << row.()
      logger.level = Logger::DEBUG
      rows << row.()
      evaluated = false
      logger.info { evaluated = true; "dropped by the core" }
      rows << evaluated.to_s
      print rows.join(" ")
    RUBY
    assert status.success?, err
    # the core drops debug and info (TASKER_LOG_LEVEL=warn); the Logger's level does the rest
    assert_equal "00111 00011 00001 00000 00111 false", out
    refute_includes err, "dropped by the core"

    out, lines, status, err = run_ruby(<<~RUBY, "TASKER_LOG_LEVEL" => "debug")
      logger = TaskerCore::Tracing::Logger.new(nil)
      print logger.debug?, " "
      logger.level = :info
      print logger.debug?, " ", logger.info?
      logger.debug("below the logger level")
      logger.info("at the logger level")
      logger.silence { logger.warn("silenced") }
    RUBY
    assert status.success?, err
    assert_equal "true false true", out
    messages = lines.map { |l| l["message"] }
    refute_includes messages, "below the logger level"
    assert_includes messages, "at the logger level"
    refute_includes messages, "silenced"
  end

  def test_an_assigned_formatter_shapes_the_message_like_tagged_logging
    out, lines, status, err = run_ruby(<<~RUBY)
      # What ActiveSupport::TaggedLogging does: extend the logger's formatter with tags.
      simple = Class.new { def call(_severity, _time, _progname, msg) = "\#{String === msg ? msg : msg.inspect}\\n" }
      tagged = Module.new do
        def call(severity, time, progname, msg) = super(severity, time, progname, "[tag] \#{msg}")
      end
      logger = TaskerCore::Tracing::Logger.new($stdout, progname: "web")
      logger.formatter = simple.new.extend(tagged)
      logger.info("request")
      logger.info("Progname") { "from block" }
      logger.warn("with fields", id: 1)
      seen = nil
      logger.formatter = proc { |s, t, p, m| seen = [s, t.class.name, p, m]; "\#{s}|\#{p}|\#{m}\\n" }
      logger.error("shaped")
      logger.unknown("any")
      print seen.inspect
      logger.formatter = proc { raise "formatter boom" }
      logger.info("unformatted when the formatter raises")
      logger.formatter = nil
      logger.info("plain again")
      built = TaskerCore::Tracing::Logger.new(nil, formatter: proc { |_s, _t, _p, m| "<\#{m}>\\n" })
      built.info("constructor formatter")
    RUBY
    assert status.success?, err
    assert_equal '["ANY", "Time", "web", "any"]', out, "the formatter gets (severity label, time, progname, message)"
    messages = lines.map { |l| l["message"] }
    assert_includes messages, "[tag] request"
    assert_includes messages, "[tag] from block"
    with_fields = lines.find { |l| l["message"] == "[tag] with fields" }
    assert_equal 1, with_fields["fields"]["id"]
    assert_equal "ruby.Progname", lines.find { |l| l["message"] == "[tag] from block" }["target"]
    assert_includes messages, "ERROR|web|shaped"
    assert_includes messages, "ANY|web|any"
    assert_includes messages, "unformatted when the formatter raises"
    assert_includes messages, "plain again"
    assert_includes messages, "<constructor formatter>"
  end
end
