# frozen_string_literal: true

module TaskerCore
  module Tracing
    # The OpenTelemetry API bridge: libraries instrumented through the +opentelemetry-api+ gem
    # (+opentelemetry-instrumentation-net_http+, +-faraday+, +-pg+, +-rack+, ...) join the trace
    # of TaskerCore::Tracing.
    #
    # Installed, it makes the API's globals the core's:
    # - +OpenTelemetry.tracer_provider+: spans started through the API (+tracer.in_span+,
    #   +start_span+) are the core's spans, with the same pipeline, filters, redaction,
    #   correlation, sampling, limits and export as TaskerCore::Tracing.span (level info, target
    #   the tracer's instrumentation name);
    # - +OpenTelemetry::Context+: one context both ways. Inside TaskerCore::Tracing.span,
    #   +OpenTelemetry::Trace.current_span+ is that span (same trace and span id); inside a span
    #   made current through the API, TaskerCore::Tracing.span nests under it and the correlation
    #   is unchanged;
    # - +OpenTelemetry.propagation+: +inject+ writes the core's headers (traceparent, tracestate,
    #   baggage with the correlation, plus the API's baggage entries); +extract+ returns a
    #   context with the remote span, and its correlation once attached.
    #
    # When: at +require "tasker_core/tracing"+ per +telemetry.opentelemetry_bridge+ /
    # TASKER_OPENTELEMETRY_BRIDGE: +auto+ (default) installs when +require "opentelemetry"+
    # succeeds and no other SDK has set its tracer provider (if one has, it is kept and a warning
    # says so once), +on+ installs even over another provider (saying so), +off+ never. Or on
    # demand with TaskerCore::Tracing.install_opentelemetry_bridge. The gem never depends on the
    # OpenTelemetry gems: nothing is loaded when they are not installed.
    #
    # Not bridged: the metrics API (the +opentelemetry-api+ gem has none; use
    # TaskerCore::Tracing.counter and friends), the start time of a span and the time of an event
    # (the core stamps them when called).
    module OpenTelemetryBridge
      @installed = false
      @mutex = Mutex.new

      class << self
        # Whether the bridge is installed in this process (and its tracer provider still the
        # API's: an SDK configured later replaces it).
        def installed? = @installed && ours?(::OpenTelemetry.tracer_provider)

        # Installs the bridge if the core's rule (TaskerCore::Tracing::Native.bridge_decision)
        # says so for +request+ (+:startup+, +:explicit+ or +:replace+); true when it is
        # installed. Never raises for a missing OpenTelemetry gem.
        def install(request)
          @mutex.synchronize do
            return true if installed?

            loaded = api_loaded?
            return false unless Native.bridge_decision(request, loaded, loaded ? other_provider : nil)

            require_relative "opentelemetry_bridge/api"
            API.install
            @installed = true
          end
        end

        # At +require+: nothing at all (not even a +require "opentelemetry"+) when the mode is off.
        # @api private
        def startup
          return false if Native.bridge_mode == "off"

          install(:startup)
        rescue StandardError => e
          Kernel.warn "tasker_core-tracing: the OpenTelemetry API bridge was not installed: #{e.class}: #{e.message}"
          false
        end

        private

        # Whether the OpenTelemetry API is loaded, or can be.
        def api_loaded?
          return true if defined?(::OpenTelemetry::Trace::TracerProvider) && defined?(::OpenTelemetry::Context)

          require "opentelemetry"
          true
        rescue LoadError
          false
        end

        def ours?(provider) = defined?(API::TracerProvider) && API::TracerProvider === provider # rubocop:disable Style/CaseEquality

        # The class name of the tracer provider another SDK set, or nil when the API's proxy
        # (nothing set yet) or the bridge's is in place.
        def other_provider
          provider = ::OpenTelemetry.tracer_provider
          return nil if provider.instance_of?(::OpenTelemetry::Internal::ProxyTracerProvider) || ours?(provider)

          provider.class.name || provider.class.inspect
        end
      end
    end

    class << self
      # Installs the OpenTelemetry API bridge now (see OpenTelemetryBridge), whatever
      # +telemetry.opentelemetry_bridge+ says: loads the +opentelemetry-api+ gem, and makes its
      # tracer provider, propagator and context the core's. Another SDK's tracer provider is kept
      # (with a warning) unless +replace: true+. Returns true when the bridge is installed, false
      # when the API cannot be loaded or another provider was kept.
      def install_opentelemetry_bridge(replace: false)
        OpenTelemetryBridge.install(replace ? :replace : :explicit)
      end
    end
  end
end
