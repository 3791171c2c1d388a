# frozen_string_literal: true

module TaskerCore
  module Tracing
    # A span for a disabled level: accepts every call and records nothing.
    class NullSpan
      def set(_key, _value) = nil
      def []=(_key, _value); end
      def add_event(_name, **_fields) = nil
      def record_exception(_exception) = nil
      def set_error(_message) = nil
      def finish = nil
      def trace_id = Tracing.current_trace_id
      def span_id = Tracing.current_span_id
      def recording? = false
      def finished? = true
    end
    NULL_SPAN = NullSpan.new.freeze

    # The index of the default level of spans.
    INFO = 2
    private_constant :INFO

    class << self
      # Runs the block in a span and returns the block's value.
      #   span("name", **fields) { |span| ... }
      #   span(:debug, "name", **fields) { |span| ... }
      # An exception is recorded on the span (exception.type/message/stacktrace, error status)
      # and re-raised unchanged.
      def span(level_or_name, name = nil, **fields)
        raise Error, "span needs a block; use start_span for code that cannot use one" unless block_given?

        if name.equal?(nil)
          index = INFO
          name = level_or_name
        else
          index = level_index(level_or_name)
        end
        return yield(NULL_SPAN) if index < @max_level

        # native_span's and in_span's bodies, inlined: the hottest path (one fiber-state read,
        # no method calls but the native one and the block's)
        s = state
        stack = s.stack
        span = Native.start_span(index, name, "ruby", fields, stack.last || s.remote, s.correlation)
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
        span, correlation = Native.handler_span(handler_name, hash_arg(context, "handler_span context"), s.parent,
                                                s.correlation)
        previous = s.correlation
        s.correlation = correlation
        begin
          in_span(span) { yield span }
        ensure
          s.correlation = previous
        end
      end

      private

      # The native span for a level index (NULL_SPAN below the level), under this fiber's parent.
      def native_span(index, name, fields)
        return NULL_SPAN if index < @max_level

        s = state
        Native.start_span(index, name, "ruby", fields, s.parent, s.correlation)
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
    end

    # Ruby conveniences on the native span.
    class Native::Span
      alias []= set

      # Adds a span event (exported with the span).
      def add_event(name, **fields) = _add_event(name, fields)

      # Records an exception (type, message, backtrace) and sets error status; Error when
      # +exception+ is not an Exception.
      def record_exception(exception)
        _record_exception(*Tracing.exception_parts(exception))
      end
    end

    class << self
      # +[class name, message, backtrace]+ of an exception; Error for anything else.
      # @api private
      def exception_parts(exception)
        unless Exception === exception # rubocop:disable Style/CaseEquality
          raise Error, "record_exception expects an Exception, got #{type_name(exception)}"
        end

        message = begin
          exception.message.to_s
        rescue StandardError
          "(message raised)"
        end
        [exception.class.name.to_s, message, (exception.backtrace || []).join("\n")]
      end
    end
  end
end
