# frozen_string_literal: true

# Test support: one real OTLP collector (rotel-agent) for the whole run, this process
# initialised to export to it, and helpers to run Ruby scripts in a subprocess.

require "minitest/autorun"
require "json"
require "open3"
require "rbconfig"
require "securerandom"
require "socket"
require "tmpdir"

# A rotel-agent collector on free loopback ports, printing what it receives to a file.
class Collector
  attr_reader :http_endpoint, :grpc_endpoint

  def self.binary
    ENV.fetch("ROTEL_AGENT") do
      Dir[File.expand_path("../../.venv/lib/python3*/site-packages/rotel/rotel-agent", __dir__)].first ||
        abort("rotel-agent not found: run `bash scripts/test.sh` or set ROTEL_AGENT")
    end
  end

  def self.free_port
    server = TCPServer.new("127.0.0.1", 0)
    server.addr[1]
  ensure
    server&.close
  end

  def initialize
    grpc = self.class.free_port
    http = self.class.free_port
    @out = File.join(Dir.tmpdir, "rotel-ruby-#{Process.pid}-#{grpc}.log")
    @pid = Process.spawn(self.class.binary, "start", "--otlp-grpc-endpoint", "127.0.0.1:#{grpc}",
                         "--otlp-http-endpoint", "127.0.0.1:#{http}", "--debug-log", "traces",
                         "--debug-log", "metrics", "--debug-log-verbosity", "detailed", "--exporter", "blackhole",
                         out: @out, err: @out)
    @grpc_endpoint = "http://127.0.0.1:#{grpc}"
    @http_endpoint = "http://127.0.0.1:#{http}"
    deadline = Time.now + 20
    until [grpc, http].all? { |p| port_open?(p) }
      raise "rotel-agent did not start: #{output}" if Time.now > deadline

      sleep 0.05
    end
    Minitest.after_run { stop }
  end

  def port_open?(port)
    TCPSocket.new("127.0.0.1", port).close
    true
  rescue SystemCallError
    false
  end

  def stop
    Process.kill("TERM", @pid)
    Process.wait(@pid)
  rescue SystemCallError
    nil
  end

  def output = File.read(@out)

  # Spans printed so far: [{name:, trace_id:, parent_id:, span_id:, status:, attributes: {}, events: [], service:,
  # resource: {}}]
  def spans
    spans = []
    service = nil
    resource = {}
    section = nil
    output.each_line do |line|
      t = line.strip
      case t
      when /\AResource(Spans|Metrics) #/ then section = nil
                                              resource = {}
      when "Resource attributes:" then section = :resource
      when /\ASpan #/ then spans << { attributes: {}, events: [], service: service, resource: resource }
                           section = :span
      when "Attributes:" then section = :attributes
      when "Events:" then section = :events
      when /\A(Trace ID|Parent ID|ID|Name|Status code)\s+: ?(.*)\z/
        next unless section == :span && spans.last

        key = { "Trace ID" => :trace_id, "Parent ID" => :parent_id, "ID" => :span_id, "Name" => :name,
                "Status code" => :status }[$1]
        spans.last[key] = $2.strip
      when /\A-> ([^:]+): (?:\w+\()?(.*?)\)?\z/
        key, value = $1, $2
        case section
        when :resource then resource[key] = value
                            service = value if key == "service.name"
        when :attributes then spans.last[:attributes][key] = value if spans.last
        when :events then spans.last[:events] << value if key == "Name" && spans.last
        end
      end
    end
    spans
  end

  # Waits until a span named +name+ (and matching +where+) arrived; returns it.
  def span(name, timeout: 15, &where)
    deadline = Time.now + timeout
    loop do
      TaskerCore::Tracing.flush(timeout: 5) if defined?(TaskerCore::Tracing) && TaskerCore::Tracing.initialized?
      found = spans.select { |s| s[:name] == name }
      found = found.select(&where) if where
      return found.first unless found.empty?
      raise Minitest::Assertion, "span #{name} never reached the collector" if Time.now > deadline

      sleep 0.1
    end
  end

  def metric_text = output
end

COLLECTOR = Collector.new

ENV["OTEL_EXPORTER_OTLP_ENDPOINT"] = COLLECTOR.http_endpoint
ENV["OTEL_SERVICE_NAME"] = "ruby-tests"
ENV["OTEL_BSP_SCHEDULE_DELAY"] = "100"
ENV["OTEL_METRIC_EXPORT_INTERVAL"] = "200"
ENV["TASKER_LOG_LEVEL"] ||= "warn"
require "tasker_core/tracing"
# As an application does: the gem started export at require (OTEL_EXPORTER_OTLP_ENDPOINT is set);
# an explicit init applies its settings over that.
TaskerCore::Tracing.init(service_name: "ruby-tests")

module TestSupport
  T = TaskerCore::Tracing

  def unique(name) = "#{name}_#{SecureRandom.hex(4)}"

  # Runs +script+ in a new Ruby with the gem loaded; returns [stdout, stderr lines parsed as JSON, status].
  def run_ruby(script, env = {})
    env = { "TASKER_LOG_FORMAT" => "json", "TASKER_LOG_LEVEL" => "debug", "OTEL_EXPORTER_OTLP_ENDPOINT" => nil,
            "OTEL_SERVICE_NAME" => "ruby-subprocess" }.merge(env)
    out, err, status = Open3.capture3(env, RbConfig.ruby, "-rtasker_core/tracing", "-e", script)
    lines = err.each_line.filter_map do |l|
      JSON.parse(l)
    rescue JSON::ParserError
      nil
    end
    [out, lines, status, err]
  end
end
