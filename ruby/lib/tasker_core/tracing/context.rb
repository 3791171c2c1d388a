# frozen_string_literal: true

module TaskerCore
  module Tracing
    # What +current_context+ returns and +with_context+ takes.
    Context = Struct.new(:span, :correlation, :remote)

    STATE_KEY = :__tasker_core_tracing_state
    private_constant :STATE_KEY

    # Fiber-local state: the span stack, the correlation and the remote context, and the fiber
    # it belongs to. With the OpenTelemetry API bridge installed, also what each
    # +OpenTelemetry::Context.attach+ replaced (+otel_attached+) and the last context
    # +OpenTelemetry::Context.current+ built (+otel_current+); see opentelemetry_bridge.rb.
    class State
      attr_accessor :stack, :correlation, :remote, :otel_attached, :otel_current
      attr_reader :owner

      def initialize(owner = nil)
        @stack = []
        @correlation = nil
        @remote = nil
        @owner = owner
        @otel_attached = nil
        @otel_current = nil
      end

      # A new fiber's state, starting from +from+ (the creating fiber's): its current span,
      # correlation and remote context.
      def self.inherit(from, owner)
        state = new(owner)
        return state unless from

        state.stack = from.stack.empty? ? [] : [from.stack.last]
        state.correlation = from.correlation
        state.remote = from.remote
        state
      end

      # The parent of a new span or event: the innermost span, else the remote context.
      def parent = @stack.last || @remote
    end
    private_constant :State

    class << self
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

      # The correlation id in effect (this fiber's, its span's or remote context's, else a
      # Rust scope's), or nil.
      def current_correlation_id = current[2]&.correlation_id

      # The current trace id (32 hex digits), or nil.
      def current_trace_id = current[0]

      # The current span id (16 hex digits), or nil.
      def current_span_id = current[1]

      # This fiber's span, correlation and remote context, to hand to another Thread, Fiber or
      # Enumerator (needed on Ruby 3.1, which has no inheritable fiber storage; on 3.2+ they
      # inherit the creating fiber's context).
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

      # W3C headers (traceparent, tracestate, baggage with the correlation) for the current context.
      def inject
        s = state
        Native.inject(s.parent, s.correlation)
      end

      # Continues the trace of +headers+ (from +inject+ in another process) inside the block;
      # the correlation comes from the baggage. Invalid headers are ignored.
      def with_remote_context(headers)
        remote = Native.extract(hash_arg(headers, "with_remote_context headers"))
        with_state([], remote.correlation || state.correlation, remote) { yield remote }
      end

      # Runs the block as a step through the core's per-step path, the same in every language:
      # the +execute_step+ span continuing the orchestrator's trace from +message["headers"]+
      # (else under this fiber's current span, or the Rust span that called into Ruby), the
      # step's correlation (+correlation_id+, else the headers' baggage's; +task_uuid+,
      # +step_uuid+, +namespace+), the +step.claimed+, +step.executing+ and
      # +step.completed+/+step.failed+ lifecycle events. Inside the block, the +execute_step+ span and the step's correlation are this fiber's
      # current ones. The block's value is returned; an exception marks the step failed and is
      # re-raised.
      #   run_step(step_name: "charge_payment", handler: "PaymentHandler", attempt: 1,
      #            correlation_id: id, headers: headers) { handler.call(input) }
      def run_step(message)
        message = hash_arg(message, "run_step message")
        Native.run_step(message, state.parent) do |span, correlation|
          with_state([span], correlation, nil) { yield }
        end
      end

      if Fiber.respond_to?(:[])
        # @api private
        # Ruby 3.2+: in fiber storage, which a new Fiber, Thread or Enumerator inherits (a copy
        # of the storage, so the same State object): a fiber that finds another fiber's state
        # starts its own from it, with that fiber's current span as its parent.
        def state
          s = Fiber[STATE_KEY]
          return s if s&.owner.equal?(Fiber.current)

          Fiber[STATE_KEY] = State.inherit(s, Fiber.current)
        end
      else
        # @api private
        # Ruby 3.1: fiber-local (Thread.current[] is per fiber); a new Fiber, Thread or
        # Enumerator starts empty (hand over with current_context / with_context).
        def state
          Thread.current[STATE_KEY] ||= State.new
        end
      end

      private

      # +[trace_id, span_id, correlation]+ of this fiber's context.
      def current
        s = state
        Native.current(s.parent, s.correlation)
      end

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
    end
  end
end
