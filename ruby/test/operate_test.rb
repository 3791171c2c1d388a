# frozen_string_literal: true

require_relative "test_helper"

# Operating it from Ruby (issue 14): the Prometheus text and its Rack app, health components and
# readiness. The scrape from three languages is in tests/integration/test_operate.py.
class OperateTest < Minitest::Test
  include TestSupport

  def test_rack_app_serves_the_prometheus_text_and_health_is_pushed
    out, _lines, status, err = run_ruby(<<~RUBY, { "OTEL_METRICS_EXPORTER" => "prometheus", "TASKER_PROMETHEUS_SERVE" => "false" })
      T = TaskerCore::Tracing
      T.counter("tasker_steps_claimed_total", 2, namespace: "payments")
      app = T::PrometheusApp.new
      code, headers, body = app.call("REQUEST_METHOD" => "GET")
      raise "status \#{code}" unless code == 200
      raise "type \#{headers}" unless headers["content-type"].start_with?("text/plain; version=0.0.4")
      raise "body" unless T.prometheus_text.include?("tasker_steps_claimed_total") && body.join.include?('tasker_steps_claimed_total{namespace="payments"')
      raise "post" unless app.call("REQUEST_METHOD" => "POST")[0] == 405
      raise "ready" unless T.readiness == [true, []]
      T.set_health("queue", :degraded, reason: "lagging")
      T.set_health(:database, "unhealthy", reason: "connection refused")
      ready, reasons = T.readiness
      raise "not unready \#{reasons}" if ready || reasons.none? { |r| r.include?("database") }
      raise "detailed" unless T.health_detailed.dig("components", "queue", "status") == "degraded"
      T.set_health("database", :healthy)
      raise "ready again" unless T.readiness.first
      puts "OK"
    RUBY
    assert status.success?, err
    assert_includes out, "OK"
  end

  def test_set_health_names_the_allowed_statuses
    error = assert_raises(T::Error) { T.set_health("database", :sick) }
    assert_includes error.message, "healthy, degraded or unhealthy"
  end

  def test_prometheus_text_without_prometheus_says_why
    error = assert_raises(T::Error) { T.prometheus_text }
    assert_includes error.message, "OTEL_METRICS_EXPORTER"
  end
end
