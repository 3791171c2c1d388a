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
  # The span stack and the correlation are fiber-local (+Thread.current[]+), so Fibers keep
  # their own parents; a new Thread starts empty unless given +current_context+ via
  # +with_context+. When the stack is empty, a span's parent is the Rust span current on the
  # thread (a handler called in-process by the orchestrator), or the remote context of
  # +with_remote_context+.
  module Tracing
    # Raised for invalid input to span/configuration functions (never by logging calls).
    class Error < StandardError; end unless const_defined?(:Error)

    # Level names and their indices in the core (0 = trace … 4 = error).
    LEVELS = {
      trace: 0, debug: 1, info: 2, warn: 3, warning: 3, error: 4, fatal: 4, unknown: 4
    }.freeze

    # The index of the default level of spans.
    INFO = LEVELS.fetch(:info)
    private_constant :INFO

    # ::Logger severities (DEBUG=0 … UNKNOWN=5) to core level indices.
    SEVERITY_LEVELS = [1, 2, 3, 4, 4, 4].freeze

    # Instrument kinds understood by the core.
    METRIC_KINDS = { counter: 0, up_down_counter: 1, histogram: 2, gauge: 3 }.freeze

    # What +current_context+ returns and +with_context+ takes.
    Context = Struct.new(:span, :correlation, :remote)

    STATE_KEY = :__tasker_core_tracing_state
    private_constant :STATE_KEY

    # Fiber-local state: the span stack, the correlation and the remote context.
    class State
      attr_accessor :stack, :correlation, :remote

      def initialize
        @stack = []
        @correlation = nil
        @remote = nil
      end
    end
    private_constant :State

    # A span for a disabled level: accepts every call and records nothing.
    class NullSpan
      def set(_key, _value) = nil
      def []=(_key, _value); end
      def add_event(_name, **_fields) = nil
      def record_exception(_exception) = nil
      def finish = nil
      def trace_id = Tracing.current_trace_id
      def span_id = Tracing.current_span_id
      def recording? = false
      def finished? = true
    end
    NULL_SPAN = NullSpan.new.freeze

    @max_level = 2
    @warned = false

    class << self
      # --- life cycle ------------------------------------------------------------------

      # Initialises full telemetry (export included) from +config_path+ (or TASKER_CONFIG), the
      # TASKER_ENV overlay, the environment, then +overrides+ (keys as in the README's table,
      # with +_+ for the section dot: +otlp_endpoint:+, +logging_format:+, +service_name:+).
      def init(config_path: nil, **overrides)
        Native.init(config_path, stringify(overrides))
        refresh_level
        true
      end

      # Same as +init(**options)+.
      def configure(**options) = init(**options)

      # Whether +init+ has run (and +shutdown+ has not).
      def initialized? = Native.initialized?

      # Exports everything buffered (waiting at most +timeout+ seconds, without holding the GVL).
      # Raises Error naming what was not delivered: spans still queued or in an export request
      # when the time ran out, or lost in failed export requests.
      def flush(timeout: 5)
        Native.flush(seconds(timeout, "flush timeout"))
        true
      end

      # Flushes and stops export; console logging keeps working.
      def shutdown(timeout: 5)
        Native.shutdown(seconds(timeout, "shutdown timeout"))
        true
      end

      # --- levels ----------------------------------------------------------------------

      # Whether an event at +level+ may be recorded. Answered in Ruby (no crossing into Rust).
      def enabled?(level) = level_index(level) >= @max_level

      # Whether a core level index (0 = trace … 4 = error) may be recorded.
      def enabled_index?(index) = index >= @max_level

      # Re-reads the most verbose level any output records (after a configuration change).
      def refresh_level
        @max_level = Native.max_level
      end

      # The core level index of +level+ (Symbol, String or ::Logger severity Integer).
      def level_index(level)
        case level
        when Symbol then LEVELS.fetch(level) { raise Error, unknown_level(level) }
        when String then LEVELS.fetch(level.downcase.to_sym) { raise Error, unknown_level(level) }
        when Integer then SEVERITY_LEVELS.fetch(level) { raise Error, unknown_level(level) }
        else raise Error, unknown_level(level)
        end
      rescue RangeError, ArgumentError, EncodingError # a bignum, a string that is not text
        raise Error, unknown_level(level)
      end

      # --- spans -----------------------------------------------------------------------

      # Runs the block in a span and returns the block's value.
      #   span("name", **fields) { |span| ... }
      #   span(:debug, "name", **fields) { |span| ... }
      # An exception is recorded on the span (exception.type/message/stacktrace, error status)
      # and re-raised unchanged.
      def span(level_or_name, name = nil, **fields)
        raise Error, "span needs a block; use start_span for code that cannot use one" unless block_given?

        span = if name.equal?(nil)
                 native_span(INFO, level_or_name, fields)
               else
                 native_span(level_index(level_or_name), name, fields)
               end
        return yield(span) if span.equal?(NULL_SPAN)

        # in_span's body, inlined: one block call fewer per span on the hottest path
        s = state
        stack = s.stack
        stack.push(span)
        begin
          yield span
        rescue Exception => e # rubocop:disable Lint/RescueException -- recorded, then re-raised
          span.record_exception(e)
          raise
        ensure
          stack.pop
          span.finish
        end
      end

      # Starts a span without a block; call +finish+ on it. A span never finished is ended when
      # the object is garbage collected. It becomes the parent of later spans in this fiber only
      # inside +with_span+.
      def start_span(level_or_name, name = nil, **fields)
        if name.equal?(nil)
          native_span(INFO, level_or_name, fields)
        else
          native_span(level_index(level_or_name), name, fields)
        end
      end

      # Makes +span+ (from +start_span+) the parent of spans and events in the block.
      def with_span(span)
        unless Native::Span === span || NULL_SPAN.equal?(span) # rubocop:disable Style/CaseEquality
          raise Error, "with_span expects a span from start_span, got #{type_name(span)}"
        end

        stack = state.stack
        stack.push(span)
        begin
          yield span
        ensure
          stack.pop
        end
      end

      # The +handler_execution+ span of a step handler: +context+ (a Hash with
      # correlation_id, task_uuid, step_uuid, namespace, step_name, ...) sets the correlation of
      # everything inside the block.
      def handler_span(handler_name, context = {})
        s = state
        span, correlation = Native.handler_span(handler_name, hash_arg(context, "handler_span context"), s.stack.last,
                                                s.remote, s.correlation)
        previous = s.correlation
        s.correlation = correlation
        begin
          in_span(span) { yield span }
        ensure
          s.correlation = previous
        end
      end

      # --- events ----------------------------------------------------------------------

      # A structured log event attached to the current span. Never raises.
      #   info("charged", amount: 12)
      #   debug { ["expensive", { detail: compute }] }   # block runs only when enabled
      def event(level, message = nil, fields = nil, **kw, &block)
        index = level_index(level)
        return false if index < @max_level

        emit(index, "ruby", message, fields, kw, &block)
      rescue Exception => e # rubocop:disable Lint/RescueException -- logging must never raise
        report(e)
        false
      end

      # trace/debug/info/warn/error/fatal, compiled with `def` (a define_method block costs
      # more per call, which matters for a disabled level).
      LEVELS.each do |name, index|
        next if %i[warning unknown].include?(name)

        class_eval <<~RUBY, __FILE__, __LINE__ + 1
          def #{name}(message = nil, fields = nil, **kw, &block)   # def info(message = nil, ...)
            return false if #{index} < @max_level                #   return false if 2 < @max_level
                                                                  #
            emit(#{index}, "ruby", message, fields, kw, &block)  #   emit(2, "ruby", ...)
          rescue Exception => e # rubocop:disable Lint/RescueException
            report(e)
            false
          end
        RUBY
      end

      # Emits at a core level index (used by the Logger). Never raises.
      def emit(index, target, message, fields, kw, &block)
        if message.equal?(nil) && block
          message, extra = block.call
          fields = extra
        end
        fields = fields ? loose_hash(fields).merge(kw) : kw
        s = state
        Native.event(index, target, message, fields, s.stack.last, s.remote, s.correlation)
        true
      rescue Exception => e # rubocop:disable Lint/RescueException
        report(e)
        false
      end

      # --- correlation and context -----------------------------------------------------

      # Runs the block with a correlation (a UUIDv7 is generated when +correlation_id+ is nil).
      def with_correlation(correlation_id: nil, parent_correlation_id: nil, task_uuid: nil, step_uuid: nil,
                           namespace: nil)
        correlation = Native.correlation(correlation_id, parent_correlation_id, task_uuid, step_uuid, namespace)
        s = state
        previous = s.correlation
        s.correlation = correlation
        begin
          yield correlation.correlation_id
        ensure
          s.correlation = previous
        end
      end

      # The correlation id in effect (this fiber's, else the Rust context's), or nil.
      def current_correlation_id
        state.correlation&.correlation_id || state.remote&.correlation&.correlation_id || Native.current_ids[2]
      end

      # The current trace id (32 hex digits), or nil.
      def current_trace_id
        s = state
        s.stack.last&.trace_id || s.remote&.trace_id || Native.current_ids[0]
      end

      # The current span id (16 hex digits), or nil.
      def current_span_id
        s = state
        s.stack.last&.span_id || s.remote&.span_id || Native.current_ids[1]
      end

      # This fiber's span, correlation and remote context, to hand to another Thread.
      def current_context
        s = state
        Context.new(s.stack.last, s.correlation, s.remote)
      end

      # Runs the block with a context from +current_context+ (e.g. in a new Thread).
      def with_context(context, &block)
        unless Context === context # rubocop:disable Style/CaseEquality -- also for a BasicObject
          raise Error, "with_context expects a context from current_context, got #{type_name(context)}"
        end

        with_state(context.span ? [context.span] : [], context.correlation, context.remote, &block)
      end

      # Runs the block as a step through the core's per-step path, the same in every language:
      # the Rust +execute_step+ span continuing the orchestrator's trace from
      # +message["headers"]+ (else under the current Rust span), the step's correlation
      # (+correlation_id+, +task_uuid+, +step_uuid+, +namespace+), the +step.claimed+,
      # +step.executing+ and +step.completed+/+step.failed+ lifecycle events. Inside the block,
      # Ruby spans (e.g. +handler_span+) nest under that Rust span with no headers. The block's
      # value is returned; an exception marks the step failed and is re-raised.
      #   run_step(step_name: "charge_payment", handler: "PaymentHandler", attempt: 1,
      #            correlation_id: id, headers: headers) { handler.call(input) }
      def run_step(message)
        message = hash_arg(message, "run_step message")
        with_state([], nil, nil) { Native.run_step(message) { yield } }
      end

      # This process's export counters (a forked child starts at zero): +spans_started+,
      # +spans_ended+, +spans_exported+, +spans_dropped+, +spans_pending+ (queued or in a request),
      # +logs_dropped+, +metrics_dropped+.
      def stats = Native.stats

      # W3C headers (traceparent, tracestate, baggage with the correlation) for the current context.
      def inject
        s = state
        Native.inject(s.stack.last, s.remote, s.correlation)
      end

      # Continues the trace of +headers+ (from +inject+ in another process) inside the block;
      # the correlation comes from the baggage. Invalid headers are ignored.
      def with_remote_context(headers)
        remote = Native.extract(hash_arg(headers, "with_remote_context headers"))
        with_state([], remote.correlation || state.correlation, remote) { yield remote }
      end

      # --- metrics and lifecycle -------------------------------------------------------

      # Adds +value+ to the counter +name+.
      def counter(name, value = 1, **labels) = metric(:counter, name, value, labels)

      # Adds +value+ (may be negative) to the up-down counter +name+.
      def up_down_counter(name, value, **labels) = metric(:up_down_counter, name, value, labels)

      # Records +value+ in the histogram +name+ (catalogue durations are in ms).
      def histogram(name, value, **labels) = metric(:histogram, name, value, labels)

      # Sets the gauge +name+ to +value+.
      def gauge(name, value, **labels) = metric(:gauge, name, value, labels)

      # Emits a lifecycle event (e.g. "step.completed") along the core's route: span event,
      # log line, counter and histogram.
      def lifecycle(name, duration_ms: nil, labels: {}, **fields)
        duration = duration_ms.equal?(nil) ? nil : number(duration_ms) { "lifecycle #{safe_string(name)} duration_ms" }
        s = state
        Native.lifecycle(name, duration, hash_arg(labels, "lifecycle labels"), fields, s.stack.last, s.correlation)
      end

      # --- internals -------------------------------------------------------------------

      # @api private
      def state
        Thread.current[STATE_KEY] ||= State.new
      end

      # @api private
      def reset_after_fork
        Native.after_fork_in_child
      rescue StandardError => e
        report(e)
      end

      private

      # Runs the block with this fiber's stack, correlation and remote context replaced.
      def with_state(stack, correlation, remote)
        s = state
        saved_stack = s.stack
        saved_correlation = s.correlation
        saved_remote = s.remote
        s.stack = stack
        s.correlation = correlation
        s.remote = remote
        begin
          yield
        ensure
          s.stack = saved_stack
          s.correlation = saved_correlation
          s.remote = saved_remote
        end
      end

      # The native span for a level index (NULL_SPAN below the level), under this fiber's parent.
      def native_span(index, name, fields)
        return NULL_SPAN if index < @max_level

        s = state
        Native.start_span(index, name, "ruby", fields, s.stack.last, s.remote, s.correlation)
      end

      def in_span(span)
        stack = state.stack
        stack.push(span)
        begin
          yield
        rescue Exception => e # rubocop:disable Lint/RescueException -- recorded, then re-raised
          span.record_exception(e)
          raise
        ensure
          stack.pop
          span.finish
        end
      end

      def metric(kind, name, value, labels)
        Native.record_metric(METRIC_KINDS.fetch(kind), name, number(value) { "#{kind} #{safe_string(name)} value" }, labels)
        true
      end

      # Overrides as strings, spelled like environment variables: lists joined with commas,
      # tables as k=v pairs; nil values are skipped.
      def stringify(hash)
        hash.each_with_object({}) do |(k, v), h|
          next if v.nil?

          h[k.to_s] = case v
                      when Array then v.join(",")
                      when Hash then v.map { |hk, hv| "#{hk}=#{hv}" }.join(",")
                      else v.to_s
                      end
        rescue StandardError => e
          raise Error, "init #{k}: the value could not be turned into text (#{e.class}: #{e.message})"
        end
      end

      # +value+ as a Hash: nil is empty, a Hash itself, anything with a working +to_h+ its
      # result; otherwise Error naming +what+.
      # Type checks below use Module#=== so that a BasicObject (no is_a?, nil?, class...) gets
      # the gem's Error too, not a NoMethodError.
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

      # Fields of a log call: a Hash (or anything with a working +to_h+), else the value itself
      # under +extra+, so the line is never lost.
      def loose_hash(fields)
        hash_arg(fields, "fields")
      rescue Error
        { extra: fields }
      end

      # A Float from a Numeric (Error for anything else, e.g. a String or a Complex).
      # +value+ as a Float; the block names the value for the error (built only on failure).
      def number(value)
        raise Error, "#{yield} must be Numeric, got #{type_name(value)}" unless Numeric === value

        Float(value)
      rescue TypeError, RangeError, ArgumentError, FloatDomainError => e
        raise Error, "#{yield}: #{safe_inspect(value)} is not a real number (#{e.message})"
      end

      # A timeout in seconds (the native side rejects negative and NaN ones).
      def seconds(value, what)
        raise Error, "#{what} must be a number of seconds, got #{type_name(value)}" unless Numeric === value

        number(value) { what }
      end
      # rubocop:enable Style/CaseEquality

      # The class name of any object, a BasicObject included.
      def type_name(value)
        Kernel.instance_method(:class).bind_call(value).name || "an anonymous class"
      rescue StandardError
        "BasicObject"
      end

      # +to_s+, or a placeholder when it raises (for messages about bad input).
      def safe_string(value)
        value.to_s
      rescue Exception # rubocop:disable Lint/RescueException
        "#<#{type_name(value)}>"
      end

      # +inspect+, or a placeholder when it raises.
      def safe_inspect(value)
        value.inspect
      rescue Exception # rubocop:disable Lint/RescueException
        "#<#{type_name(value)}>"
      end

      def unknown_level(level)
        "unknown level #{safe_inspect(level)}; expected one of #{LEVELS.keys.map(&:inspect).join(', ')} " \
          "or a ::Logger severity (0..5)"
      end

      def report(error)
        return if @warned

        @warned = true
        warn "tasker_core-tracing: a log call failed and was dropped (reported once): #{error.class}: #{error.message}"
      end
    end

    # Ruby conveniences on the native span.
    class Native::Span
      alias []= set

      # Adds a span event (exported with the span).
      def add_event(name, **fields) = _add_event(name, fields)

      # Records an exception (type, message, backtrace) and sets error status; Error when
      # +exception+ is not an Exception.
      def record_exception(exception)
        unless Exception === exception # rubocop:disable Style/CaseEquality
          raise Error, "record_exception expects an Exception, got #{Tracing.send(:type_name, exception)}"
        end

        message = begin
          exception.message.to_s
        rescue StandardError
          "(message raised)"
        end
        _record_exception(exception.class.name.to_s, message, (exception.backtrace || []).join("\n"))
      end
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

require_relative "tracing/logger"

Process.singleton_class.prepend(TaskerCore::Tracing::ForkHook)

begin
  TaskerCore::Tracing::Native.init_logging(nil)
  if (ENV["OTEL_EXPORTER_OTLP_ENDPOINT"] || ENV["TASKER_OTLP_FILE"] || ENV["TASKER_CONFIG"]) && ENV["TASKER_TRACING_AUTO_INIT"] != "0"
    TaskerCore::Tracing.init
  end
rescue TaskerCore::Tracing::Error => e
  warn "tasker_core-tracing: #{e.message}; console logging uses the defaults"
ensure
  TaskerCore::Tracing.refresh_level
end

# Delivers what is buffered when the script ends (normally, +exit+, an uncaught exception, or
# SIGTERM's default handler), waiting at most telemetry.otlp.shutdown_timeout_ms. Not run on
# +exit!+ or SIGKILL.
at_exit do
  TaskerCore::Tracing.flush(timeout: TaskerCore::Tracing::Native.shutdown_timeout)
rescue StandardError => e
  warn "tasker_core-tracing: #{e.message}"
end
