# frozen_string_literal: true

require_relative "test_helper"

# The OpenTelemetry API bridge (issue 13): spans of libraries instrumented through the
# opentelemetry-api gem are the core's and share TaskerCore::Tracing's context both ways.
#
# The gem does not depend on the OpenTelemetry gems and no gem server is reachable here: the API
# and SDK are loaded from the vendored source tarball (../shared/vendor/otel-ruby-src.tar.gz,
# or OTEL_RUBY_SRC), extracted once. Installing the bridge is process-wide, so every test runs
# its script in a new Ruby exporting to a file, and reads the spans from that file.
class OpenTelemetryBridgeTest < Minitest::Test
  include TestSupport

  TARBALL = ENV.fetch("OTEL_RUBY_SRC") { File.expand_path("../../../shared/vendor/otel-ruby-src.tar.gz", __dir__) }
  GEMS = %w[api sdk common registry semantic_conventions].freeze

  # The -I flags of the vendored gems (extracted on first use), or nil without the tarball.
  def self.load_path_flags
    return @flags if defined?(@flags)

    @flags = nil
    return nil unless File.file?(TARBALL)

    dir = Dir.mktmpdir("otel-ruby-src")
    Minitest.after_run { FileUtils.rm_rf(dir) }
    _out, err, status = Open3.capture3("tar", "-xzf", TARBALL, "-C", dir)
    raise "could not extract #{TARBALL}: #{err}" unless status.success?

    root = File.join(dir, "otel-ruby-src")
    @flags = GEMS.map { |g| "-I#{File.join(root, g, 'lib')}" }
  end

  def setup
    skip "the OpenTelemetry Ruby sources are missing (#{TARBALL}); set OTEL_RUBY_SRC to the tarball" unless self.class.load_path_flags
  end

  # Runs +script+ in a new Ruby with the OpenTelemetry gems on the load path (unless +api: false+),
  # exporting spans to a file. +require_gem+: load tasker_core/tracing first (-r), as an app
  # whose Gemfile lists it before any OpenTelemetry setup. Returns [stdout, stderr, status,
  # exported spans].
  def run_script(script, env = {}, api: true, require_gem: true)
    Dir.mktmpdir do |tmp|
      file = File.join(tmp, "spans.jsonl")
      env = { "OTEL_EXPORTER_OTLP_ENDPOINT" => nil, "TASKER_CONFIG" => nil, "TASKER_LOG_LEVEL" => "warn",
              "TASKER_LOG_FORMAT" => "compact", "TASKER_OTLP_FILE" => file, "OTEL_SERVICE_NAME" => "bridge-test",
              "TASKER_OPENTELEMETRY_BRIDGE" => nil }.merge(env)
      flags = api ? self.class.load_path_flags : []
      flags += ["-rtasker_core/tracing"] if require_gem
      prelude = require_gem ? "require 'json'; T = TaskerCore::Tracing; " : "require 'json'; "
      out, err, status = Open3.capture3(env, RbConfig.ruby, *flags, "-e", "#{prelude}#{script}")
      [out, err, status, File.file?(file) ? exported(File.read(file)) : []]
    end
  end

  # Spans of an OTLP/JSON file: {name:, trace_id:, span_id:, parent_id:, kind:, end_ns:, status:,
  # status_message:, attributes: {}, events: [{name:, attributes: {}}]}.
  def exported(text)
    text.each_line.flat_map do |line|
      JSON.parse(line).fetch("resourceSpans").flat_map do |rs|
        rs.fetch("scopeSpans").flat_map do |ss|
          ss.fetch("spans").map do |s|
            { name: s["name"], trace_id: s["traceId"], span_id: s["spanId"], parent_id: s["parentSpanId"],
              kind: s["kind"], end_ns: s["endTimeUnixNano"], status: s.dig("status", "code"), status_message: s.dig("status", "message"),
              attributes: attributes(s["attributes"]),
              events: (s["events"] || []).map { |e| { name: e["name"], attributes: attributes(e["attributes"]) } } }
          end
        end
      end
    end
  end

  def attributes(list)
    (list || []).to_h { |kv| [kv["key"], kv["value"].values.first] }
  end

  # The one exported span named +name+.
  def one(spans, name)
    found = spans.select { |s| s[:name] == name }
    assert_equal 1, found.size, "spans named #{name}: #{spans.map { |s| s[:name] }.inspect}"
    found.first
  end

  def assert_ok(status, err)
    assert status.success?, "the script failed:\n#{err}"
  end

  # Lines "KEY value" of a script's output as a Hash.
  def values(out) = out.each_line.map { |l| l.chomp.split(" ", 2) }.select { |kv| kv.size == 2 }.to_h

  def test_the_api_shows_the_rust_span_that_called_into_ruby
    out, err, status, = run_script(<<~RUBY)
      _value, _trace, rust_span = T::Native._with_rust_span("rust_mid", nil, nil) do
        puts "SHOWN \#{OpenTelemetry::Trace.current_span.context.hex_span_id} \#{T.current_span_id}"
      end
      puts "RUST \#{rust_span}"
    RUBY
    assert_ok status, err
    v = values(out)
    api, ours = v["SHOWN"].split
    assert_equal v["RUST"], ours
    assert_equal ours, api
  end

  def test_a_rust_span_called_back_into_is_shown_fresh_and_keeps_its_correlation
    out, err, status, spans = run_script(<<~RUBY)
      corr = "0190a8f0-7a2b-7c3d-8e4f-5a6b7c8d9e0f"
      T.span("ruby_parent") do |parent|
        puts "BEFORE \#{OpenTelemetry::Trace.current_span.context.hex_span_id}"
        s = T.state
        _v, _t, rust = T::Native._with_rust_span("rust_mid", s.parent, s.correlation) do
          puts "INSIDE \#{OpenTelemetry::Trace.current_span.context.hex_span_id}"
        end
        puts "RUST \#{rust}"
        puts "AFTER \#{OpenTelemetry::Trace.current_span.context.hex_span_id} \#{parent.span_id}"
      end
      # No Ruby parent, a Rust span with a correlation: a context derived from the current one
      # (as Baggage does) keeps the Rust parent and its correlation.
      T::Native._with_rust_span("rust_root", nil, T::Native.correlation(corr, nil, nil, nil, nil)) do
        OpenTelemetry::Context.with_value(OpenTelemetry::Context.create_key("k"), 1) do
          T.span("ruby_child") { puts "CORR \#{T.current_correlation_id}" }
        end
      end
      # An explicit empty context starts a new trace, even under a Rust span.
      T::Native._with_rust_span("rust_other", nil, nil) do
        OpenTelemetry.tracer_provider.tracer("t").start_span("api_root", with_parent: OpenTelemetry::Context.empty).finish
      end
    RUBY
    assert_ok status, err
    v = values(out)
    assert_equal v["RUST"], v["INSIDE"]
    after, parent = v["AFTER"].split
    assert_equal parent, after, "back in the Ruby span, the API shows it again (no stale Rust span)"
    assert_equal parent, v["BEFORE"]
    assert_equal "0190a8f0-7a2b-7c3d-8e4f-5a6b7c8d9e0f", v["CORR"]
    child, rust_root = one(spans, "ruby_child"), one(spans, "rust_root")
    assert_equal rust_root[:span_id], child[:parent_id]
    assert_equal "", one(spans, "api_root")[:parent_id].to_s
  end

  def test_api_baggage_follows_the_configured_propagators
    out, err, status, = run_script(<<~RUBY, { "OTEL_PROPAGATORS" => "tracecontext" })
      ctx = OpenTelemetry::Baggage.set_value("tenant", "acme")
      OpenTelemetry::Context.with_current(ctx) do
        T.span("s") do
          headers = {}
          OpenTelemetry.propagation.inject(headers)
          puts "KEYS \#{headers.keys.sort.join(',')}"
        end
      end
      extracted = OpenTelemetry.propagation.extract({ "baggage" => "tenant=acme" })
      puts "EXTRACTED \#{OpenTelemetry::Baggage.value('tenant', context: extracted).inspect}"
    RUBY
    assert_ok status, err
    v = values(out)
    assert_equal "traceparent", v["KEYS"]
    assert_equal "nil", v["EXTRACTED"]
  end

  def test_api_and_our_spans_nest_both_ways_and_show_the_same_ids
    out, err, status, spans = run_script(<<~RUBY)
      puts "INSTALLED \#{T::OpenTelemetryBridge.installed?} \#{OpenTelemetry.tracer_provider.class}"
      tracer = OpenTelemetry.tracer_provider.tracer("bridge.test", "1.0")
      tracer.in_span("api_root", attributes: { "layer" => "api" }) do |root|
        puts "ROOT_FROM_OURS \#{T.current_trace_id}/\#{T.current_span_id}"
        puts "ROOT_FROM_API \#{root.context.hex_trace_id}/\#{root.context.hex_span_id}"
        T.with_correlation(correlation_id: "0190a8f0-7a2b-7c3d-8e4f-5a6b7c8d9e0f") do
          T.span("ours") do |ours|
            current = OpenTelemetry::Trace.current_span
            puts "OURS_FROM_API \#{current.context.hex_trace_id}/\#{current.context.hex_span_id}"
            puts "OURS_FROM_OURS \#{ours.trace_id}/\#{ours.span_id}"
            current.set_attribute("set_through_api", 7)
            tracer.in_span("api_leaf", kind: :client) do |leaf|
              puts "LEAF_CORRELATION \#{T.current_correlation_id}"
              puts "LEAF_FROM_OURS \#{T.current_span_id}"
              puts "LEAF_FROM_API \#{leaf.context.hex_span_id}"
              T.span("ours_leaf") { nil }
            end
            puts "BACK_IN_OURS \#{OpenTelemetry::Trace.current_span.context.hex_span_id}"
            manual = tracer.start_span("api_manual")
            OpenTelemetry::Trace.with_span(manual) do |_span, context|
              puts "SAME_CONTEXT \#{context.equal?(OpenTelemetry::Context.current)}"
              T.span("under_manual") { nil }
            end
            manual.finish
            tracer.in_span("api_in_span") do |_span, context|
              puts "IN_SPAN_CONTEXT \#{context.equal?(OpenTelemetry::Context.current)}"
            end
            OpenTelemetry::Context.with_current(OpenTelemetry::Context.empty) { T.span("new_root") { nil } }
          end
        end
      end
      puts "AFTER \#{OpenTelemetry::Trace.current_span.context.valid?} \#{T.current_span_id.inspect}"
    RUBY
    assert_ok status, err
    v = values(out)
    assert_equal "true TaskerCore::Tracing::OpenTelemetryBridge::API::TracerProvider", v["INSTALLED"]
    assert_equal v["ROOT_FROM_API"], v["ROOT_FROM_OURS"]
    assert_equal v["OURS_FROM_OURS"], v["OURS_FROM_API"]
    assert_equal v["LEAF_FROM_API"], v["LEAF_FROM_OURS"]
    assert_equal "0190a8f0-7a2b-7c3d-8e4f-5a6b7c8d9e0f", v["LEAF_CORRELATION"]
    assert_equal v["OURS_FROM_OURS"].split("/").last, v["BACK_IN_OURS"]
    assert_equal "false nil", v["AFTER"]
    assert_equal "true", v["SAME_CONTEXT"]
    assert_equal "true", v["IN_SPAN_CONTEXT"]

    root, ours, leaf, ours_leaf = %w[api_root ours api_leaf ours_leaf].map { |n| one(spans, n) }
    assert_equal [root[:trace_id]], [ours, leaf, ours_leaf].map { |s| s[:trace_id] }.uniq
    assert_equal "", root[:parent_id].to_s
    assert_equal root[:span_id], ours[:parent_id]
    assert_equal ours[:span_id], leaf[:parent_id]
    assert_equal leaf[:span_id], ours_leaf[:parent_id]
    manual, under_manual, new_root = %w[api_manual under_manual new_root].map { |n| one(spans, n) }
    assert_equal ours[:span_id], manual[:parent_id]
    assert_equal manual[:span_id], under_manual[:parent_id]
    assert_equal "", new_root[:parent_id].to_s, "an empty context attached: a new trace, as the API has it"
    refute_equal root[:trace_id], new_root[:trace_id]
    assert_equal "#{root[:trace_id]}/#{root[:span_id]}", v["ROOT_FROM_API"]
    assert_equal "#{ours[:trace_id]}/#{ours[:span_id]}", v["OURS_FROM_API"]
    assert_equal "bridge.test", root[:attributes]["target"]
    assert_equal "api", root[:attributes]["layer"]
    assert_equal "7", ours[:attributes]["set_through_api"].to_s
    assert_equal 3, leaf[:kind] # SPAN_KIND_CLIENT
    assert_equal 1, root[:kind] # SPAN_KIND_INTERNAL
    assert_equal "0190a8f0-7a2b-7c3d-8e4f-5a6b7c8d9e0f", leaf[:attributes]["correlation_id"]
  end

  def test_start_span_with_parent_links_names_and_end_time
    out, err, status, spans = run_script(<<~RUBY)
      tracer = OpenTelemetry.tracer_provider.tracer("bridge.test")
      first = tracer.start_span("first")
      ctx = OpenTelemetry::Trace.context_with_span(first)
      second = tracer.start_span("second_draft", with_parent: ctx,
                                 links: [OpenTelemetry::Trace::Link.new(first.context, { "why" => "retry" })])
      second.name = "second"
      second.add_attributes("n" => 2, "tags" => %w[a b])
      second.add_event("checkpoint", attributes: { "at" => 1 })
      puts "RECORDING \#{second.recording?}"
      second.finish(end_timestamp: Time.at(1_700_000_000, 5, :nsec))
      puts "AFTER_FINISH \#{second.recording?}"
      root = tracer.start_root_span("root_again")
      root.finish
      first.finish
      T.span("ours") { puts "NOT_A_CHILD \#{root.context.hex_trace_id != first.context.hex_trace_id}" }
    RUBY
    assert_ok status, err
    v = values(out)
    assert_equal "true", v["RECORDING"]
    assert_equal "false", v["AFTER_FINISH"]
    assert_equal "true", v["NOT_A_CHILD"]
    first, second, root = %w[first second root_again].map { |n| one(spans, n) }
    assert_equal first[:span_id], second[:parent_id]
    assert_equal "", root[:parent_id].to_s
    assert_equal '["a","b"]', second[:attributes]["tags"], "the core exports a list as its JSON text"
    assert_equal ["checkpoint"], second[:events].map { |e| e[:name] }
    assert_equal "1700000000000000005", second[:end_ns], "finish(end_timestamp:) sets the end time"
  end

  def test_exceptions_and_status_are_recorded_once
    _out, err, status, spans = run_script(<<~RUBY)
      tracer = OpenTelemetry.tracer_provider.tracer("bridge.test")
      begin
        T.span("handler") do
          tracer.in_span("failing_call") { raise ArgumentError, "bad amount" }
        end
      rescue ArgumentError
        nil
      end
      tracer.in_span("handled") do |span|
        span.record_exception(IOError.new("retried"), attributes: { "attempt" => 1 })
      end
      tracer.in_span("fine") { |span| span.status = OpenTelemetry::Trace::Status.ok }
      tracer.in_span("explicit_error") { |span| span.status = OpenTelemetry::Trace::Status.error("quota") }
    RUBY
    assert_ok status, err
    failing = one(spans, "failing_call")
    assert_equal ["exception"], failing[:events].map { |e| e[:name] }
    assert_equal "ArgumentError", failing[:events][0][:attributes]["exception.type"]
    assert_equal "bad amount", failing[:events][0][:attributes]["exception.message"]
    assert_equal 2, failing[:status] # STATUS_CODE_ERROR
    assert_equal "Unhandled exception of type: ArgumentError", failing[:status_message]
    handler = one(spans, "handler")
    assert_equal failing[:parent_id], handler[:span_id]
    assert_equal ["exception"], handler[:events].map { |e| e[:name] }
    assert_equal 2, handler[:status]

    handled = one(spans, "handled")
    assert_equal ["exception"], handled[:events].map { |e| e[:name] }
    assert_equal "1", handled[:events][0][:attributes]["attempt"].to_s
    assert_includes [nil, 0], handled[:status], "record_exception alone leaves the status unset"
    assert_equal 1, one(spans, "fine")[:status] # STATUS_CODE_OK
    explicit = one(spans, "explicit_error")
    assert_equal [2, "quota"], [explicit[:status], explicit[:status_message]]
  end

  def test_inject_writes_traceparent_and_the_correlation_baggage
    out, err, status, spans = run_script(<<~RUBY)
      tracer = OpenTelemetry.tracer_provider.tracer("bridge.test")
      T.with_correlation(correlation_id: "0190a8f0-7a2b-7c3d-8e4f-5a6b7c8d9e0f", task_uuid: "0190a8f0-7a2b-7c3d-8e4f-5a6b7c8d9e10") do
        T.span("handler") do
          tracer.in_span("GET", kind: :client) do |client|
            headers = {}
            OpenTelemetry.propagation.inject(headers)
            puts "HEADERS \#{JSON.generate(headers)}"
            puts "CLIENT \#{client.context.hex_trace_id}/\#{client.context.hex_span_id}"
            puts "OURS \#{JSON.generate(T.inject)}"
            ctx = OpenTelemetry::Baggage.set_value("tenant", "acme corp/é")
            OpenTelemetry::Context.with_current(ctx) do
              more = {}
              OpenTelemetry.propagation.inject(more)
              puts "WITH_BAGGAGE \#{JSON.generate(more)}"
            end
          end
        end
      end
      puts "FIELDS \#{OpenTelemetry.propagation.fields.sort.join(',')}"
    RUBY
    assert_ok status, err
    v = values(out)
    headers = JSON.parse(v["HEADERS"])
    trace_id, span_id = v["CLIENT"].split("/")
    assert_equal "00-#{trace_id}-#{span_id}-01", headers["traceparent"]
    assert_equal JSON.parse(v["OURS"]), headers, "the API's inject and TaskerCore::Tracing.inject agree"
    assert_includes headers["baggage"], "correlation_id=0190a8f0-7a2b-7c3d-8e4f-5a6b7c8d9e0f"
    with_baggage = JSON.parse(v["WITH_BAGGAGE"])
    assert_equal headers["traceparent"], with_baggage["traceparent"]
    assert_includes with_baggage["baggage"], "correlation_id=0190a8f0-7a2b-7c3d-8e4f-5a6b7c8d9e0f"
    assert_includes with_baggage["baggage"].split(","), "tenant=acme%20corp%2F%C3%A9"
    assert_equal "baggage,traceparent,tracestate", v["FIELDS"]
    assert_equal one(spans, "handler")[:span_id], one(spans, "GET")[:parent_id]
  end

  def test_extract_and_in_span_continue_the_remote_trace_with_its_correlation
    out, err, status, spans = run_script(<<~RUBY)
      tracer = OpenTelemetry.tracer_provider.tracer("bridge.test")
      upstream = T.with_correlation(correlation_id: "0190a8f0-7a2b-7c3d-8e4f-5a6b7c8d9e0f") do
        T.span("upstream") { T.inject }
      end
      ctx = OpenTelemetry.propagation.extract(upstream)
      puts "REMOTE \#{OpenTelemetry::Trace.current_span(ctx).context.remote?} \#{OpenTelemetry::Trace.current_span(ctx).context.hex_span_id}"
      puts "OUTSIDE \#{T.current_correlation_id.inspect}"
      puts "BAGGAGE \#{OpenTelemetry::Baggage.value('correlation_id', context: ctx)}"
      OpenTelemetry::Context.with_current(ctx) do
        puts "ATTACHED \#{T.current_span_id} \#{T.current_correlation_id}"
        tracer.in_span("server", kind: :server) do
          puts "IN_SERVER \#{T.current_correlation_id}"
          T.span("handler") { nil }
        end
      end
      puts "DETACHED \#{T.current_correlation_id.inspect} \#{T.current_span_id.inspect}"
      unsampled = OpenTelemetry.propagation.extract({ "traceparent" => "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00" })
      OpenTelemetry::Context.with_current(unsampled) do
        tracer.in_span("unsampled") do |span|
          headers = {}
          OpenTelemetry.propagation.inject(headers)
          puts "UNSAMPLED \#{span.recording?} \#{span.context.valid?} \#{span.context.trace_flags.sampled?} \#{headers['traceparent']}"
        end
      end
    RUBY
    assert_ok status, err
    v = values(out)
    upstream = one(spans, "upstream")
    assert_equal "true #{upstream[:span_id]}", v["REMOTE"]
    assert_equal "nil", v["OUTSIDE"]
    assert_equal "0190a8f0-7a2b-7c3d-8e4f-5a6b7c8d9e0f", v["BAGGAGE"], "the API's baggage of the extracted context"
    assert_equal "#{upstream[:span_id]} 0190a8f0-7a2b-7c3d-8e4f-5a6b7c8d9e0f", v["ATTACHED"]
    assert_equal "0190a8f0-7a2b-7c3d-8e4f-5a6b7c8d9e0f", v["IN_SERVER"]
    assert_equal "nil nil", v["DETACHED"]
    server, handler = one(spans, "server"), one(spans, "handler")
    assert_equal [upstream[:trace_id]] * 2, [server[:trace_id], handler[:trace_id]]
    assert_equal upstream[:span_id], server[:parent_id]
    assert_equal server[:span_id], handler[:parent_id]
    assert_equal 2, server[:kind] # SPAN_KIND_SERVER
    assert_equal "0190a8f0-7a2b-7c3d-8e4f-5a6b7c8d9e0f", handler[:attributes]["correlation_id"]
    recording, valid, sampled, traceparent = v["UNSAMPLED"].split
    assert_equal %w[false true false], [recording, valid, sampled]
    assert_match(/\A00-0af7651916cd43dd8448eb211c80319c-\h{16}-00\z/, traceparent)
    refute(spans.any? { |s| s[:name] == "unsampled" })
  end

  def test_an_instrumented_http_client_carries_the_trace_to_the_server
    # opentelemetry-instrumentation-net_http is not in the vendored sources: the client span is
    # started through the API as that instrumentation does (kind client, inject into the request).
    out, err, status, spans = run_script(<<~'RUBY')
      require "net/http"
      require "socket"
      server = TCPServer.new("127.0.0.1", 0)
      port = server.addr[1]
      received = Queue.new
      thread = Thread.new do
        client = server.accept
        headers = {}
        while (line = client.gets) && line != "\r\n"
          name, value = line.split(":", 2)
          headers[name.downcase] = value.strip if value
        end
        T.with_remote_context(headers) { T.span("server_handler") { nil } }
        received << headers
        client.write "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
        client.close
      end
      tracer = OpenTelemetry.tracer_provider.tracer("OpenTelemetry::Instrumentation::Net::HTTP")
      body = T.with_correlation(correlation_id: "0190a8f0-7a2b-7c3d-8e4f-5a6b7c8d9e0f") do
        T.span("handler") do
          tracer.in_span("HTTP GET", kind: :client, attributes: { "http.method" => "GET" }) do |span|
            request = Net::HTTP::Get.new("/orders/1")
            OpenTelemetry.propagation.inject(request)
            response = Net::HTTP.start("127.0.0.1", port) { |http| http.request(request) }
            span.set_attribute("http.status_code", response.code.to_i)
            response.body
          end
        end
      end
      thread.join
      puts "BODY #{body}"
      puts "RECEIVED #{JSON.generate(received.pop)}"
    RUBY
    assert_ok status, err
    v = values(out)
    assert_equal "ok", v["BODY"]
    received = JSON.parse(v["RECEIVED"])
    handler, client, server = %w[handler HTTP\ GET server_handler].map { |n| one(spans, n) }
    assert_equal "00-#{client[:trace_id]}-#{client[:span_id]}-01", received["traceparent"]
    assert_includes received["baggage"], "correlation_id=0190a8f0-7a2b-7c3d-8e4f-5a6b7c8d9e0f"
    assert_equal handler[:span_id], client[:parent_id]
    assert_equal client[:span_id], server[:parent_id]
    assert_equal [handler[:trace_id]], [client[:trace_id], server[:trace_id]].uniq
    assert_equal 3, client[:kind]
    assert_equal "200", client[:attributes]["http.status_code"].to_s
    assert_equal "0190a8f0-7a2b-7c3d-8e4f-5a6b7c8d9e0f", server[:attributes]["correlation_id"]
  end

  def test_auto_keeps_another_sdks_provider_and_says_so_once
    out, err, status, = run_script(<<~RUBY, { "TASKER_LOG_LEVEL" => "info" }, require_gem: false)
      require "opentelemetry/sdk"
      OpenTelemetry.logger = Logger.new($stderr)
      ENV["OTEL_TRACES_EXPORTER"] = "none" # the SDK's exporter (the core reads it too: unset below)
      OpenTelemetry::SDK.configure
      ENV.delete("OTEL_TRACES_EXPORTER")
      require "tasker_core/tracing"
      T = TaskerCore::Tracing
      puts "PROVIDER \#{OpenTelemetry.tracer_provider.class}"
      puts "INSTALLED \#{T::OpenTelemetryBridge.installed?}"
      puts "EXPLICIT \#{T.install_opentelemetry_bridge}"
      puts "STILL \#{OpenTelemetry.tracer_provider.class}"
      puts "CURRENT \#{T.span('ours') { OpenTelemetry::Trace.current_span.context.valid? }}"
      puts "REPLACE \#{T.install_opentelemetry_bridge(replace: true)} \#{OpenTelemetry.tracer_provider.class}"
    RUBY
    assert_ok status, err
    v = values(out)
    assert_equal "OpenTelemetry::SDK::Trace::TracerProvider", v["PROVIDER"]
    assert_equal "false", v["INSTALLED"]
    assert_equal "false", v["EXPLICIT"]
    assert_equal "OpenTelemetry::SDK::Trace::TracerProvider", v["STILL"]
    assert_equal "false", v["CURRENT"], "not installed: the API's context is left alone"
    assert_equal "true TaskerCore::Tracing::OpenTelemetryBridge::API::TracerProvider", v["REPLACE"]
    kept = err.lines.grep(/another OpenTelemetry SDK's tracer provider \(OpenTelemetry::SDK::Trace::TracerProvider\)/)
    assert_equal 1, kept.size, err
    assert_includes kept.first, "TASKER_OPENTELEMETRY_BRIDGE=on"
    assert_equal 1, err.lines.grep(/is replaced by tasker-telemetry's/).size, err
  end

  def test_on_replaces_another_sdks_provider_at_startup
    out, err, status, = run_script(<<~RUBY, { "TASKER_OPENTELEMETRY_BRIDGE" => "on" }, require_gem: false)
      require "opentelemetry/sdk"
      OpenTelemetry.logger = Logger.new($stderr)
      ENV["OTEL_TRACES_EXPORTER"] = "none" # the SDK's exporter (the core reads it too: unset below)
      OpenTelemetry::SDK.configure
      ENV.delete("OTEL_TRACES_EXPORTER")
      require "tasker_core/tracing"
      puts "PROVIDER \#{OpenTelemetry.tracer_provider.class}"
    RUBY
    assert_ok status, err
    assert_equal "TaskerCore::Tracing::OpenTelemetryBridge::API::TracerProvider", values(out)["PROVIDER"]
    assert_match(/OpenTelemetry::SDK::Trace::TracerProvider is replaced by tasker-telemetry's/, err)
  end

  def test_off_installs_nothing_and_an_explicit_call_still_installs
    out, err, status, spans = run_script(<<~RUBY, { "TASKER_OPENTELEMETRY_BRIDGE" => "off" })
      puts "LOADED \#{defined?(OpenTelemetry).inspect}"
      require "opentelemetry"
      puts "PROVIDER \#{OpenTelemetry.tracer_provider.class}"
      puts "CURRENT \#{T.span('ours') { OpenTelemetry::Trace.current_span.context.valid? }}"
      OpenTelemetry.tracer_provider.tracer("x").in_span("not_ours") { nil }
      puts "EXPLICIT \#{T.install_opentelemetry_bridge} \#{OpenTelemetry.tracer_provider.class}"
      OpenTelemetry.tracer_provider.tracer("x").in_span("ours_now") { nil }
    RUBY
    assert_ok status, err
    v = values(out)
    assert_equal "nil", v["LOADED"], "off: the gem does not even load the API"
    assert_equal "OpenTelemetry::Internal::ProxyTracerProvider", v["PROVIDER"]
    assert_equal "false", v["CURRENT"]
    assert_equal "true TaskerCore::Tracing::OpenTelemetryBridge::API::TracerProvider", v["EXPLICIT"]
    assert_equal %w[ours ours_now], spans.map { |s| s[:name] }.sort, "the API's no-op span before the explicit install"
    assert_empty err.lines.grep(/OpenTelemetry/), err
  end

  def test_without_the_api_nothing_is_installed_and_nothing_raises
    out, err, status, = run_script(<<~RUBY, {}, api: false)
      puts "INSTALLED \#{T::OpenTelemetryBridge.installed?} \#{T.install_opentelemetry_bridge.inspect} \#{defined?(OpenTelemetry).inspect}"
      puts "SPAN \#{T.span('fine') { 42 }}"
    RUBY
    assert_ok status, err
    assert_equal "false false nil", values(out)["INSTALLED"]
    assert_equal "42", values(out)["SPAN"]
  end
end
