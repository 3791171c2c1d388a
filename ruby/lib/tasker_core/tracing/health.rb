# frozen_string_literal: true

require "json"

module TaskerCore
  module Tracing
    class << self
      # The core's metrics in the Prometheus text format 0.0.4, as +/metrics+ serves them (for
      # an application that serves HTTP itself; see PrometheusApp). Raises Error when
      # +prometheus+ is not among OTEL_METRICS_EXPORTER.
      def prometheus_text = Native.prometheus_text

      # Sets a health component pushed by the application: +status+ is +:healthy+,
      # +:degraded+ or +:unhealthy+ (an unhealthy one makes +/health/ready+ answer 503).
      # Raises Error for another status or an invalid name.
      def set_health(component, status, reason: nil)
        Native.set_health(component, status, reason)
        true
      end

      # +[ready, reasons]+: what +/health/ready+ answers (reasons when not ready).
      def readiness = Native.readiness

      # The document of +/health/detailed+ as a Hash: overall status, components, export
      # statistics per signal, uptime and version.
      def health_detailed = JSON.parse(Native.health_detailed)
    end

    # A Rack application serving TaskerCore::Tracing.prometheus_text (mount it at /metrics):
    #
    #   map("/metrics") { run TaskerCore::Tracing::PrometheusApp.new }
    #
    # GET and HEAD only (405 otherwise); 503 with the reason when the metrics are not kept for
    # Prometheus.
    class PrometheusApp
      CONTENT_TYPE = Native::PROMETHEUS_CONTENT_TYPE

      def call(env)
        method = env["REQUEST_METHOD"] || "GET"
        unless %w[GET HEAD].include?(method)
          return [405, { "allow" => "GET, HEAD", "content-type" => "text/plain" }, ["method not allowed\n"]]
        end

        body = Tracing.prometheus_text
        [200, { "content-type" => CONTENT_TYPE, "content-length" => body.bytesize.to_s }, method == "HEAD" ? [] : [body]]
      rescue Tracing::Error => e
        [503, { "content-type" => "text/plain" }, ["#{e.message}\n"]]
      end
    end
  end
end
