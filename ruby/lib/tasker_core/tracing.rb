# frozen_string_literal: true

require "logger"
require_relative "tracing/version"
require "tasker_core/tasker_core_tracing"

module TaskerCore
  # Tracing, structured logging, correlation and metrics for Ruby step handlers, through the
  # tasker-telemetry Rust core: Ruby spans and events join the orchestrator's trace and go
  # through the same filters, JSON format, redaction and OTLP export as Rust's own.
  #
  #   TaskerCore::Tracing.span("charge_payment", order_id: 42) do |span|
  #     TaskerCore::Tracing.info("charging", amount_cents: 4200)
  #     span[:result] = "ok"
  #   end
  #
  # The current span and correlation are fiber-local (+Thread.current[]+): each Fiber (and so
  # each Fiber-scheduler task) keeps its own. A new Thread, Fiber or Enumerator starts empty:
  # hand the context over with +current_context+ / +with_context+. When no Ruby span is
  # current, a new span's parent is the Rust span that called into Ruby (a handler run
  # in-process by the orchestrator), or the remote context of +with_remote_context+, or none.
  #
  # What happens at +require+ (the same in Python, decided by the core): console logging from
  # the configuration, and export when OTEL_EXPORTER_OTLP_ENDPOINT,
  # OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, OTEL_METRICS_EXPORTER=prometheus, TASKER_OTLP_FILE or TASKER_CONFIG is set (unless
  # TASKER_TRACING_AUTO_INIT=0). An invalid setting prints one error line naming it, and the
  # console uses the defaults. Then, when the +opentelemetry-api+ gem can be loaded, the
  # OpenTelemetry API bridge (see OpenTelemetryBridge; TASKER_OPENTELEMETRY_BRIDGE=auto|on|off):
  # spans of libraries instrumented through the API join these traces.
  module Tracing
    # Raised for invalid input to span/configuration functions (never by logging calls).
    class Error < StandardError; end unless const_defined?(:Error)

    # Raised for an invalid configuration or a second explicit +init+.
    class ConfigError < Error; end unless const_defined?(:ConfigError)

    @max_level = 2
    @reported = false

    class << self
      # --- life cycle ------------------------------------------------------------------

      # Starts telemetry with export from +config_path+ (or TASKER_CONFIG), the TASKER_ENV
      # overlay, the environment, then +overrides+ (keys as in the README's table, with +_+
      # for the section dot: +otlp_endpoint:+, +logging_format:+, +service_name:+; values as
      # Ruby values: strings, numbers, booleans, Arrays, Hashes; +nil+ leaves a key as
      # configured). After an automatic start at +require+, applies the overrides (export
      # restarts, nothing recorded is lost). Raises ConfigError for an invalid configuration or
      # a second call.
      def init(config_path: nil, **overrides)
        Native.init(config_path, overrides)
        refresh_level
        true
      end

      # Same as +init(**options)+.
      def configure(**options) = init(**options)

      # Whether telemetry has started (at +require+ or by +init+) and not shut down.
      def initialized? = Native.initialized?

      # Whether spans currently leave the process (to a collector or a file).
      def exporting? = Native.exporting?

      # Exports everything buffered, waiting at most +timeout+ seconds (default:
      # telemetry.otlp.shutdown_timeout_ms) without holding the GVL. Raises Error naming what
      # was not delivered.
      def flush(timeout: nil)
        Native.flush(timeout.equal?(nil) ? nil : seconds(timeout, "flush timeout"))
        true
      end

      # Flushes and stops export; console logging keeps working.
      def shutdown(timeout: nil)
        Native.shutdown(timeout.equal?(nil) ? nil : seconds(timeout, "shutdown timeout"))
        true
      end

      # This process's export counters (a forked child starts at zero): +spans_started+,
      # +spans_ended+, +spans_exported+, +spans_dropped+, +spans_pending+ (queued or in a request),
      # +logs_dropped+, +metrics_dropped+, +attributes_dropped+ (keys past the attribute count
      # limit), +attributes_truncated+ (values cut to the length limit).
      def stats = Native.stats

      # --- internals shared by the files below -------------------------------------------

      # @api private
      def reset_after_fork
        Native.after_fork_in_child
      rescue StandardError => e
        report_failure(e)
      end

      # Reports a failed log call once on stderr (log calls never raise).
      def report_failure(error)
        return if @reported

        @reported = true
        Kernel.warn "tasker_core-tracing: a log call failed and was dropped (reported once): #{error.class}: #{error.message}"
      end

      # The class name of any object, a BasicObject included.
      # @api private (the Logger uses it too)
      def type_name(value)
        Kernel.instance_method(:class).bind_call(value).name || "an anonymous class"
      rescue StandardError
        "BasicObject"
      end

      # +to_s+ (a String as is), or a placeholder when it raises or returns a non-String.
      # @api private
      def safe_string(value)
        return value if String === value # rubocop:disable Style/CaseEquality

        string = value.to_s
        String === string ? string : "#<#{type_name(value)}>" # rubocop:disable Style/CaseEquality
      rescue StandardError
        "#<#{type_name(value)}>"
      end

      # +inspect+, or a placeholder when it raises.
      # @api private
      def safe_inspect(value)
        value.inspect
      rescue StandardError
        "#<#{type_name(value)}>"
      end

      private

      # Type checks use Module#=== so that a BasicObject (no is_a?, nil?, class...) gets the
      # gem's Error too, not a NoMethodError.
      # rubocop:disable Style/CaseEquality

      # +value+ as a Hash: nil is empty, a Hash itself, anything with a working +to_h+ its
      # result; otherwise Error naming +what+.
      def hash_arg(value, what)
        return {} if NilClass === value
        return value if Hash === value

        begin
          result = value.to_h
        rescue NoMethodError
          raise Error, "#{what} must be a Hash, got #{type_name(value)}"
        rescue StandardError => e
          raise Error, "#{what} must be a Hash; #{type_name(value)}#to_h raised #{e.class}: #{e.message}"
        end
        raise Error, "#{what} must be a Hash, got #{type_name(value)}" unless Hash === result

        result
      end

      # +value+ as a Float; the block names the value for the error (built only on failure).
      def number(value)
        raise Error, "#{yield} must be Numeric, got #{type_name(value)}" unless Numeric === value

        Float(value)
      rescue TypeError, RangeError, ArgumentError, FloatDomainError => e
        raise Error, "#{yield}: #{safe_inspect(value)} is not a real number (#{e.message})"
      end

      # A timeout in seconds (the core rejects negative and NaN ones).
      def seconds(value, what)
        raise Error, "#{what} must be a number of seconds, got #{type_name(value)}" unless Numeric === value

        number(value) { what }
      end
      # rubocop:enable Style/CaseEquality

    end

    # Re-creates the exporters in a forked child (Puma, Unicorn, Resque, Process.fork).
    module ForkHook
      def _fork
        Native.before_fork
        pid = super
        Tracing.reset_after_fork if pid.zero?
        pid
      end
    end
  end
end

require_relative "tracing/context"
require_relative "tracing/spans"
require_relative "tracing/events"
require_relative "tracing/metrics"
require_relative "tracing/health"
require_relative "tracing/runtime"
require_relative "tracing/instrument"
require_relative "tracing/logger"
require_relative "tracing/opentelemetry_bridge"

Process.singleton_class.prepend(TaskerCore::Tracing::ForkHook)

# Console logging, and export when the environment asks for it (the core decides; an invalid
# setting has already printed its error line, and the console uses the defaults).
TaskerCore::Tracing::Native.startup
TaskerCore::Tracing.refresh_level
# The OpenTelemetry API bridge, per telemetry.opentelemetry_bridge (auto: when the
# opentelemetry-api gem can be loaded and no other SDK has set its tracer provider).
TaskerCore::Tracing::OpenTelemetryBridge.startup

# Delivers what is buffered when the script ends (normally, +exit+, an uncaught exception, or
# SIGTERM's default handler), waiting at most telemetry.otlp.shutdown_timeout_ms. Not run on
# +exit!+ or SIGKILL.
at_exit do
  TaskerCore::Tracing.flush if TaskerCore::Tracing.exporting?
rescue StandardError => e
  warn "tasker_core-tracing: #{e.message}"
end
