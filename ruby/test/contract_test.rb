# frozen_string_literal: true

require_relative "test_helper"

# The cross-language contract (tests/contract/cases.json), Ruby side: the same table of cases
# that the Rust tests and the Python package's pytest suite run, through the installed gem.
class ContractTest < Minitest::Test
  include TestSupport

  CASES = JSON.parse(File.read(File.expand_path("../../tests/contract/cases.json", __dir__)))

  def test_level_names
    CASES["level_names"]["accepted"].each do |name, index|
      assert_equal index, T.level_index(name), name
      assert_equal index, T.level_index(name.to_sym), name unless name.empty?
    end
    CASES["level_names"]["rejected"].each do |name|
      assert_raises(T::Error, name) { T.level_index(name) }
    end
  end

  def test_fields
    script = <<~RUBY
      require "json"
      JSON.parse(ARGV[0]).each { |c| TaskerCore::Tracing.info("contract " + c["name"], v: c["value"]) }
    RUBY
    out, err, status = Open3.capture3({ "TASKER_LOG_FORMAT" => "json", "TASKER_LOG_LEVEL" => "info",
                                        "OTEL_EXPORTER_OTLP_ENDPOINT" => nil },
                                      RbConfig.ruby, "-rtasker_core/tracing", "-e", script,
                                      JSON.generate(CASES["fields"]))
    assert status.success?, out + err
    lines = err.each_line.filter_map { |l| JSON.parse(l) rescue nil } # rubocop:disable Style/RescueModifier
    CASES["fields"].each do |c|
      line = lines.find { |l| l["message"] == "contract #{c['name']}" }
      refute_nil line, c["name"]
      assert_equal c["fields"], line["fields"], c["name"]
    end
  end

  def test_metric_values
    CASES["metric_values"]["accepted"].each { |v| assert T.gauge("contract_gauge", v) }
    CASES["metric_values"]["rejected"].each do |v|
      err = assert_raises(T::Error, v.inspect) { T.gauge("contract_gauge", v) }
      assert_includes err.message, "contract_gauge"
    end
  end

  def test_handler_span_attributes
    c = CASES["handler_span"]
    step_name = unique(c["context"]["step_name"])
    T.handler_span(c["handler"], c["context"].merge("step_name" => step_name)) { nil }
    span = COLLECTOR.span("handler_execution") { |s| s[:attributes]["step_name"] == step_name }
    c["attributes"].each do |key, value|
      expected = key == "step_name" ? step_name : value.to_s
      assert_equal expected, span[:attributes][key], key
    end
    c["absent"].each { |key| refute span[:attributes].key?(key), key }
  end

  def test_lifecycle_routes
    script = <<~RUBY
      require "json"
      JSON.parse(ARGV[0]).each { |c| TaskerCore::Tracing.lifecycle(c["event"]) }
    RUBY
    out, err, status = Open3.capture3({ "TASKER_LOG_FORMAT" => "json", "TASKER_LOG_LEVEL" => "trace",
                                        "OTEL_EXPORTER_OTLP_ENDPOINT" => nil },
                                      RbConfig.ruby, "-rtasker_core/tracing", "-e", script,
                                      JSON.generate(CASES["lifecycle"]))
    assert status.success?, out + err
    lines = err.each_line.filter_map { |l| JSON.parse(l) rescue nil } # rubocop:disable Style/RescueModifier
    CASES["lifecycle"].each do |c|
      line = lines.find { |l| l["message"] == c["event"] }
      refute_nil line, c["event"]
      assert_equal c["log_level"], line["level"], c["event"]
    end
  end

  STARTUP_SCRIPT = <<~RUBY
    puts "EXPORTING \#{TaskerCore::Tracing.exporting? ? 'True' : 'False'}"
    TaskerCore::Tracing.error("line-error")
    TaskerCore::Tracing.warn("line-warn")
    TaskerCore::Tracing.info("line-info")
  RUBY

  CASES["startup"].each_with_index do |c, i|
    define_method("test_startup_#{i}_#{c['name'].gsub(/\W+/, '_')}") do
      Dir.mktmpdir do |tmp|
        env = { "OTEL_EXPORTER_OTLP_ENDPOINT" => nil, "OTEL_SERVICE_NAME" => nil, "TASKER_LOG_LEVEL" => nil }
        c["env"].each { |k, v| env[k] = v.gsub("{tmp}", tmp) }
        out, err, status = Open3.capture3(env, RbConfig.ruby, "-rtasker_core/tracing", "-e", STARTUP_SCRIPT)
        assert status.success?, out + err
        assert_includes out, "EXPORTING #{c['exporting'] ? 'True' : 'False'}"
        if c["problem"].empty?
          refute_includes err, "ERROR tasker_telemetry"
        else
          problem = err.lines.select { |l| l.include?(c["problem"][0]) }
          assert_equal 1, problem.size, err
          c["problem"].each { |part| assert_includes problem[0], part }
        end
        (c["printed"] || ["error"]).each { |level| assert_includes err, "line-#{level}" }
        (c["not_printed"] || []).each { |level| refute_includes err, "line-#{level}" }
      end
    end
  end
end
