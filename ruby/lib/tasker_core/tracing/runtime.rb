# frozen_string_literal: true

module TaskerCore
  module Tracing
    # What a monitored operation measured (see TaskerCore::Tracing.monitor).
    MonitorReport = Struct.new(:duration_ms, :memory_delta_bytes, :slow, :memory_spike, keyword_init: true) do
      alias_method :slow?, :slow
      alias_method :memory_spike?, :memory_spike
    end

    # What +monitor+ yields: the operation's name, and its MonitorReport once the block ended.
    class MonitorHandle
      attr_reader :name
      attr_accessor :report

      def initialize(name)
        @name = name
        @report = nil
      end
    end

    class << self
      # Sets the console filter at run time: a level name (+:debug+, "warning", ...) or
      # RUST_LOG-style directives ("info,payments=debug"). Returns the changes made (each
      # "key: old → new", also logged once). Raises ConfigError naming the problem (nothing
      # changes).
      def set_level(level) = runtime_changed { Native.set_level(level.to_s) }

      # Sets the export filter of spans and exported log events at run time (see set_level).
      def set_export_level(level) = runtime_changed { Native.set_export_level(level.to_s) }

      # Changes settings that can change at run time, spelled as +init+'s overrides:
      # +events_sample_rate: 0.1+, +events_sampling: { "payments" => 0.5 }+,
      # +events_rate_limit_per_s: 100+, +events_filtered: ["heartbeat"]+,
      # +slow_operations_threshold_ms: 500+, +logging_level: "debug"+, ... Returns the changes
      # made, all or none. Raises ConfigError for a key that cannot change at run time (naming
      # those that can) or a bad value, and nothing changes.
      def set_runtime(**settings) = runtime_changed { Native.set_runtime(settings) }

      # Re-reads the configuration file (TASKER_CONFIG, its TASKER_ENV overlay, the
      # environment) and applies what can change at run time. Ruby claims SIGHUP itself, so the
      # core's own SIGHUP reload stays off under Ruby; to reload on SIGHUP:
      #
      #   Signal.trap("HUP") { Thread.new { TaskerCore::Tracing.reload_config } }
      #
      # Returns the changes made; raises ConfigError for a bad value (nothing changes) or when no
      # file was read.
      def reload_config = runtime_changed { Native.reload_config }

      # Monitors the block and returns its value: its duration is recorded in
      # +tasker_monitored_operation_duration{operation}+; past the slow threshold a
      # +slow_operation+ warning is logged and counted; a resident-memory growth past
      # telemetry.slow_operations.memory_threshold_mb logs +memory_spike+. The block gets a
      # MonitorHandle whose +report+ (a MonitorReport) is set when the block ends, also when it
      # raises (the exception propagates):
      #
      #   rows = TaskerCore::Tracing.monitor("import_batch") { |m| @m = m; load(rows) }
      #   @m.report.duration_ms
      def monitor(name)
        raise Error, "monitor needs a block" unless block_given?

        handle = MonitorHandle.new(name)
        m = Native::Monitor.start(name)
        begin
          yield handle
        ensure
          handle.report = report_of(m.finish)
        end
      end

      private

      # The cached level follows the core, whatever the change did (also when it raised).
      def runtime_changed
        yield
      ensure
        refresh_level
      end

      def report_of(parts)
        return nil unless parts

        duration_ms, delta, slow, spike = parts
        MonitorReport.new(duration_ms: duration_ms, memory_delta_bytes: delta, slow: slow, memory_spike: spike)
      end
    end
  end
end
