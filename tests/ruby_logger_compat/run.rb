# frozen_string_literal: true

# Runs the official ruby/logger test suite with ::Logger rebound to TaskerCore::Tracing::Logger,
# to measure how far our Logger is a drop-in ::Logger. See README.md next to this file.
#
#   ruby [-I ruby/lib] tests/ruby_logger_compat/run.rb /tmp/ruby-logger-1.5.0/test
#
# ARGV[0] is the suite's test/ directory (lib/helper.rb and logger/test_*.rb). The suite is
# test-unit's (Debian's Ruby bundles the test-unit gem). Prints one line per test, the failures
# with their classification, and the counts; exits 1 when a failure is not a known by-design one.

require "set"
require "tmpdir"

render = !ARGV.delete("--render").nil?
test_dir = ARGV[0] or abort "usage: ruby #{$PROGRAM_NAME} PATH/TO/ruby-logger/test [--render]"
test_dir = File.expand_path(test_dir)
test_files = Dir[File.join(test_dir, "logger", "test_*.rb")].sort
abort "#{test_dir}: no logger/test_*.rb (give the suite's test/ directory)" if test_files.empty?
abort "#{test_dir}: no lib/helper.rb" unless File.file?(File.join(test_dir, "lib", "helper.rb"))

# The core's console output (every line the suite logs) goes to stderr; let it record every
# level so that only the Logger's own level decides (debug? is also false when the core would
# drop debug), and export nothing.
ENV["TASKER_LOG_LEVEL"] ||= "debug"
ENV["TASKER_TRACING_AUTO_INIT"] = "0"
%w[OTEL_EXPORTER_OTLP_ENDPOINT TASKER_OTLP_FILE TASKER_CONFIG].each { |k| ENV.delete(k) }

require "logger"
require "tasker_core/tracing"

OURS = TaskerCore::Tracing::Logger
abort "TaskerCore::Tracing::Logger is not a ::Logger" unless OURS < ::Logger
ORIGINAL_LOGGER = ::Logger

# Which tests construct our Logger (directly, or through a subclass such as the suite's CustomLogger).
module ConstructionProbe
  TESTS = Set.new

  def initialize(...)
    TESTS << $ruby_logger_compat_current_test if $ruby_logger_compat_current_test # rubocop:disable Style/GlobalVars
    super
  end
end
OURS.prepend(ConstructionProbe)

# --render: writes each line our Logger hands to the core back into the device the suite gave
# the Logger (@logdev, which the suite sets to read the bytes back), in ::Logger's format:
# severity label from the core level or the severity field, progname from the target
# "ruby.<progname>", the text or the Exception handed to the core (with a formatter, the text
# the formatter made). The assertions behind the suite's byte checks then run too, so what they
# say about the API (severity, progname, message, block and level semantics) is measured rather
# than hidden behind the first byte comparison. It relies on TaskerCore::Tracing.emit's
# arguments (index, target, text, fields, keywords[, exception]).
if render
  module RenderProbe
    # add and <<: note which Logger is writing while it writes.
    %i[add <<].each do |name|
      define_method(name) do |*args, **kw, &block|
        outer = Thread.current[:ruby_logger_compat_logger]
        Thread.current[:ruby_logger_compat_logger] = self
        super(*args, **kw, &block)
      ensure
        Thread.current[:ruby_logger_compat_logger] = outer
      end
    end
  end
  OURS.prepend(RenderProbe)

  module RenderEmit
    CORE_LABELS = %w[TRACE DEBUG INFO WARN ERROR].freeze

    def emit(index, target, message, fields, kw, *exception, &block)
      logger = Thread.current[:ruby_logger_compat_logger]
      device = logger&.instance_variable_get(:@logdev)
      if device
        label = [fields, kw].grep(Hash).map { |h| h[:severity] }.compact.first || CORE_LABELS[index]
        progname = target == "ruby" ? nil : target.delete_prefix("ruby.")
        line = if logger.formatter
                 "#{message}\n"
               else
                 formatter = ORIGINAL_LOGGER::Formatter.new
                 formatter.datetime_format = logger.datetime_format
                 # an Exception handed to the core (type, message, backtrace) as ::Logger prints it
                 formatter.call(label, Time.now, progname, exception.first || message)
               end
        device.write(line)
      end
      super
    end
  end
  TaskerCore::Tracing.singleton_class.prepend(RenderEmit)
end

# Rebind ::Logger. Logger::Severity, Logger::Formatter, Logger::LogDevice, Logger::Period and the
# severity constants stay reachable as Logger::X through our class's ancestors.
Object.send(:remove_const, :Logger)
Object.const_set(:Logger, OURS)

$LOAD_PATH.unshift(File.join(test_dir, "lib"))
require "helper" # test/unit and CoreAssertions, as the suite's Rakefile (-rhelper)
require "test/unit/collector/descendant"
require "test/unit/testresult"
Test::Unit::AutoRunner.need_auto_run = false
test_files.each { |f| require f }

# Failures that only concern the bytes written to (or the state of) the log device given to
# Logger.new: by design, the core owns the sink (console/JSON on stderr, OTLP), so our Logger
# never opens, writes, rotates or closes that device. Everything else is API semantics.
BYTES = "bytes written to the IO (by design: the core owns the sink)"
BY_DESIGN = {
  "test_add(TestLogger)" => BYTES,
  "test_add_binary_data_with_binmode_logdev(TestLogger)" => BYTES,
  "test_close(TestLogger)" => "the given IO is not closed (by design: the core owns the sink, the IO is never used)",
  "test_datetime_format(TestLogger)" => BYTES,
  "test_format(TestLogger)" => "#{BYTES}; an Exception's text is its message, the backtrace goes in the exception.stacktrace field",
  "test_formatter(TestLogger)" => BYTES,
  "test_initialize_with_datetime_format(TestLogger)" => BYTES,
  "test_initialize_with_formatter(TestLogger)" => BYTES,
  "test_level_log(TestLogger)" => BYTES,
  "test_lshift(TestLogger)" => "#{BYTES}; << records an info line through the core",
  "test_overriding_level(TestLogger)" => BYTES,
  "test_reopen(TestLogger)" => "@logdev is not the given IO (by design: the core owns the sink)",
  "test_shifting_size(TestLogDevice)" => "log file rotation (by design: the core owns the sink)",
  "test_shifting_age(TestLogDevice)" => "log file rotation (by design: the core owns the sink)",
  "test_shifting_period_suffix(TestLogDevice)" => "log file rotation (by design: the core owns the sink)"
}.freeze

suite = Test::Unit::Collector::Descendant.new.collect("ruby/logger")
result = Test::Unit::TestResult.new
order = []
log_path = File.join(Dir.tmpdir, "ruby_logger_compat-#{Process.pid}.log")
saved_stderr = $stderr.dup
begin
  $stderr.reopen(log_path, "w") # the core writes its console lines to fd 2
  suite.run(result) do |channel, value|
    next unless value.is_a?(Test::Unit::TestCase)

    case channel
    when Test::Unit::TestCase::STARTED_OBJECT
      $ruby_logger_compat_current_test = value.name # rubocop:disable Style/GlobalVars
      order << value.name
    when Test::Unit::TestCase::FINISHED_OBJECT
      $ruby_logger_compat_current_test = nil # rubocop:disable Style/GlobalVars
    end
  end
ensure
  $stderr.reopen(saved_stderr)
end

faults = result.faults.group_by(&:test_name)
failing = ->(name) { (faults[name] || []).any? { |f| f.is_a?(Test::Unit::Failure) || f.is_a?(Test::Unit::Error) } }
constructing = ConstructionProbe::TESTS
passed = order.reject(&failing)
unexpected = []

puts "ruby/logger suite at #{test_dir}, ::Logger = #{OURS} (original ::Logger #{ORIGINAL_LOGGER::VERSION})" \
     "#{render ? ', lines rendered back into @logdev (--render)' : ''}"
order.each do |name|
  mark = constructing.include?(name) ? "*" : " "
  if failing.call(name)
    reason = BY_DESIGN[name]
    unexpected << name unless reason
    first = faults[name].map { |f| f.message.to_s.lines.first.to_s.strip }.reject(&:empty?).first.to_s
    puts "FAIL #{mark} #{name}: #{reason || 'API semantics (defect)'}"
    puts "         #{first[0, 160]}"
  else
    puts "pass #{mark} #{name}"
  end
end
puts "(* = constructs our Logger; core console output in #{log_path})"
puts "passed: #{passed.size} of #{order.size} tests; of the #{constructing.size} that construct our Logger: " \
     "#{(passed & constructing.to_a).size} passed"
puts "failures not known to be by design: #{unexpected.empty? ? 'none' : unexpected.join(', ')}"
exit(unexpected.empty? ? 0 : 1)
