# frozen_string_literal: true

require_relative "test_helper"

# The exported resource says it is Ruby (telemetry.sdk.language, process.runtime.*), and a
# misspelt init override names the key it probably meant.
class ResourceTest < Minitest::Test
  include TestSupport

  def test_the_exported_resource_says_ruby
    name = unique("rb_resource_probe")
    T.span(name) { nil }
    resource = COLLECTOR.span(name)[:resource]
    assert_equal "ruby", resource["telemetry.sdk.language"], resource.inspect
    assert_equal RUBY_ENGINE, resource["process.runtime.name"], resource.inspect
    assert_equal RUBY_VERSION, resource["process.runtime.version"], resource.inspect
    assert_equal Process.pid.to_s, resource["process.pid"], resource.inspect
    assert_equal "ruby-tests", resource["service.name"], resource.inspect
    assert_equal "tasker-telemetry", resource["telemetry.distro.name"], resource.inspect
    refute_empty resource["host.name"].to_s, resource.inspect
    assert_match(/\A\h{8}-\h{4}-\h{4}-\h{4}-\h{12}\z/, resource["service.instance.id"], resource.inspect)
  end

  def test_a_misspelt_init_override_is_a_config_error_with_a_suggestion
    out, _lines, status, err = run_ruby(<<~RUBY)
      begin
        TaskerCore::Tracing.init(otlp_endpont: "http://127.0.0.1:4318")
      rescue TaskerCore::Tracing::ConfigError => e
        puts "CONFIG \#{e.message}"
      end
    RUBY
    assert status.success?, err
    assert_includes out, "CONFIG unknown telemetry config key `otlp_endpont`"
    assert_includes out, "did you mean `otlp_endpoint`?"
  end
end
