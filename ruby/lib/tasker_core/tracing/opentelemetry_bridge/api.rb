# frozen_string_literal: true

# The OpenTelemetry API bridge's classes (see TaskerCore::Tracing::OpenTelemetryBridge). Loaded
# only once the +opentelemetry-api+ gem is: they subclass its classes.

module TaskerCore
  module Tracing
    module OpenTelemetryBridge
      # The API's implementations, over the native span functions.
      module API
        OTrace = ::OpenTelemetry::Trace
        OContext = ::OpenTelemetry::Context

        # Bridge spans are info spans (TaskerCore::Tracing.span's default level).
        INFO = 2

        # Whether the API keeps its context stack in +Fiber#opentelemetry_context+ (1.x since
        # 1.1): the bridge's +in_span+ then reads its top directly.
        RAW_STACK = Fiber.method_defined?(:opentelemetry_context)

        # The key of the current span in an OpenTelemetry context (a private constant of the
        # API; Trace.context_with_span is the public way to set it, one entry at a time).
        SPAN_KEY = OTrace.const_get(:CURRENT_SPAN_KEY)

        # A span from the core, seen through the API: a span started by a bridge tracer, or a
        # TaskerCore::Tracing span that is current (+OpenTelemetry::Trace.current_span+).
        class Span < OTrace::Span
          # The TaskerCore::Tracing::Native::Span.
          attr_reader :native

          # +parent+: the native parent it started under, whose context it reports when the
          # core records nothing for it (every output filters its level out).
          def initialize(native, parent = nil) # rubocop:disable Lint/MissingSuper -- the API's sets @context eagerly
            @native = native
            @parent = parent
            @context = nil
          end

          # Its SpanContext (binary ids, trace flags, tracestate).
          def context
            @context ||= API.span_context(@native.span_context, false) || API.parent_span_context(@parent)
          end

          # Whether it records and is sampled for export (false once finished).
          def recording? = @native.recording? && @native.sampled?

          # Sets an attribute (a String, Symbol, number, boolean or an Array of them).
          def set_attribute(key, value)
            @native.set(key, value)
            self
          end
          alias []= set_attribute

          # Sets each attribute of a Hash.
          def add_attributes(attributes)
            attributes&.each { |k, v| @native.set(k, v) }
            self
          end

          # Adds a link to another span (an OpenTelemetry::Trace::Link).
          def add_link(link)
            API.add_link(@native, link)
            self
          end

          # Adds an event; +timestamp+ is not kept (the core stamps it now).
          def add_event(name, attributes: nil, timestamp: nil) # rubocop:disable Lint/UnusedMethodArgument
            @native._add_event(name, attributes)
            self
          end

          # Records an exception as an +exception+ event (exception.type, .message, .stacktrace
          # and +attributes+). As the API has it, the status is left alone: set it with +status=+
          # (+in_span+ does).
          def record_exception(exception, attributes: nil)
            kind, message, stack = Tracing.exception_parts(exception)
            fields = { "exception.type" => kind, "exception.message" => message, "exception.stacktrace" => stack }
            fields.merge!(attributes) if attributes
            @native._add_event("exception", fields)
            nil
          end

          # Sets the status: an error with its description, or OK (unset changes nothing).
          def status=(status)
            case status&.code
            when OTrace::Status::ERROR then @native.set_error(status.description.to_s)
            when OTrace::Status::OK then @native.set_ok
            end
          end

          # Renames the span.
          def name=(new_name)
            @native.update_name(new_name)
          end

          # Ends the span, now or at +end_timestamp+ (a Time, or seconds since the epoch).
          def finish(end_timestamp: nil)
            if end_timestamp.nil?
              @native.finish
            else
              @native._finish_at((end_timestamp.to_r * 1_000_000_000).to_i)
            end
            self
          end
        end

        # A context with a span over a parent context, as +Trace.context_with_span+ makes it,
        # but without copying the parent's entries until a value is added (the bridge makes one
        # for every +in_span+ and every +Context.current+ that reads a TaskerCore::Tracing span).
        # +origin+ (the context it was made over) and +native+ (the native parent its span
        # stands for) let +Context.current+ hand out the same one while they are current.
        class WithSpan < OContext
          attr_reader :native

          def initialize(parent, span, native) # rubocop:disable Lint/MissingSuper -- entries come from +parent+
            @parent = parent
            @span = span
            @native = native
            @full = nil
          end

          def origin = @parent

          def value(key) = key.equal?(SPAN_KEY) ? @span : @parent.value(key)
          alias [] value

          def set_value(key, value) = full.set_value(key, value)

          def set_values(values) = full.set_values(values)

          private

          def full = (@full ||= @parent.set_value(SPAN_KEY, @span))
        end

        # The span of a context extracted from headers by the bridge's propagator: not recording,
        # it carries the native remote context (with the correlation from the baggage).
        class RemoteSpan < OTrace::Span
          # The TaskerCore::Tracing::Native::Remote.
          attr_reader :remote

          def initialize(remote, span_context)
            super(span_context: span_context)
            @remote = remote
          end
        end

        # The Rust span that called into Ruby, as the API shows it: a context holding it stands for
        # "no Ruby parent" (the core then takes the Rust span, with its correlation).
        class RustSpan < OTrace::Span
          def initialize(span_context) # rubocop:disable Lint/UselessMethodDefinition -- a marker class
            super(span_context: span_context)
          end
        end

        # Tracers by instrumentation name.
        class TracerProvider < OTrace::TracerProvider
          def initialize # rubocop:disable Lint/MissingSuper
            @tracers = {}
            @mutex = Mutex.new
          end

          # The tracer of an instrumentation (+name+ is the target of its spans).
          def tracer(deprecated_name = nil, deprecated_version = nil, name: nil, version: nil, attributes: nil) # rubocop:disable Lint/UnusedMethodArgument
            name = (name || deprecated_name).to_s
            name = "opentelemetry" if name.empty?
            @mutex.synchronize { @tracers[name] ||= Tracer.new(name) }
          end

          # Exports what is buffered (TaskerCore::Tracing.flush); 0 (success) or 1 (failure), as
          # the SDK's export result codes.
          def force_flush(timeout: nil)
            Tracing.flush(timeout: timeout)
            0
          rescue Tracing::Error
            1
          end

          # The same as +force_flush+: the core's pipeline stops with the process (or
          # TaskerCore::Tracing.shutdown), not with the API's provider.
          def shutdown(timeout: nil) = force_flush(timeout: timeout)
        end

        # Starts core spans (level info, target the instrumentation's name). +start_timestamp+ is
        # not kept: the core stamps a span when it starts.
        class Tracer < OTrace::Tracer
          def initialize(target) # rubocop:disable Lint/MissingSuper
            @target = target
          end

          # Starts a span under +with_parent+'s span (default: the current one, the same as
          # TaskerCore::Tracing.span's parent). +start_timestamp+ is not kept.
          def start_span(name, with_parent: nil, attributes: nil, links: nil, start_timestamp: nil, kind: nil) # rubocop:disable Lint/UnusedMethodArgument
            s = Tracing.state
            if with_parent.nil?
              API.start(name, @target, attributes, links, kind, s.parent, s.correlation)
            else
              parent, correlation = API.native_parent(with_parent)
              API.start(name, @target, attributes, links, kind, parent, correlation || s.correlation)
            end
          end

          # Runs the block in a new span, the span current inside (for both APIs); as the API's
          # +in_span+, an exception is recorded, sets the error status and is re-raised. The
          # API's context stack is not touched: +Context.current+ inside gives the context
          # yielded here, built from this fiber's TaskerCore::Tracing state, as for
          # TaskerCore::Tracing.span.
          def in_span(name, attributes: nil, links: nil, start_timestamp: nil, kind: nil, record_exception: true, &block)
            unless API::RAW_STACK && Tracing.enabled_index?(INFO)
              return super(name, attributes: attributes, links: links, start_timestamp: start_timestamp, kind: kind,
                                 record_exception: record_exception, &block)
            end

            s = Tracing.state
            parent = s.parent
            native = Native.start_otel_span(INFO, name || "empty", @target, attributes, parent, s.correlation, kind)
            links&.each { |link| API.add_link(native, link) }
            span = Span.new(native, parent)
            context = WithSpan.new(Fiber.current.opentelemetry_context&.last || OContext::ROOT, span, native)
            s.otel_current = context
            stack = s.stack
            stack.push(native)
            begin
              yield span, context
            rescue Exception => e # rubocop:disable Lint/RescueException -- recorded, then re-raised
              span.record_exception(e) if record_exception
              span.status = OTrace::Status.error("Unhandled exception of type: #{e.class}")
              raise
            ensure
              stack.pop
              native.finish
            end
          end

          # Starts a span of a new trace.
          def start_root_span(name, attributes: nil, links: nil, start_timestamp: nil, kind: nil) # rubocop:disable Lint/UnusedMethodArgument
            API.start(name, @target, attributes, links, kind, API.root, Tracing.state.correlation)
          end
        end

        # W3C trace context and baggage, through the core.
        class Propagator
          FIELDS = %w[traceparent tracestate baggage].freeze

          # Writes the core's headers for +context+'s span and correlation (traceparent,
          # tracestate, baggage with the correlation), the API's baggage entries added to the
          # baggage.
          def inject(carrier, context: OContext.current, setter: OContext::Propagation.text_map_setter)
            parent, correlation = API.native_parent(context)
            headers = Native.inject(parent, correlation || Tracing.state.correlation)
            if Native.propagates_baggage? && !::OpenTelemetry::Baggage.raw_entries(context: context).empty?
              merge_baggage(headers, context)
            end
            headers.each { |k, v| setter.set(carrier, k, v) }
            nil
          rescue StandardError => e # as the API's propagators: a failed inject never fails the request
            ::OpenTelemetry.handle_error(exception: e, message: "tasker_core-tracing: inject failed")
            nil
          end

          # A context with the remote span of +carrier+'s headers (and the API's baggage
          # entries); attached, its correlation (from the baggage) is the current one.
          def extract(carrier, context: OContext.current, getter: OContext::Propagation.text_map_getter)
            headers = {}
            FIELDS.each do |field|
              value = getter.get(carrier, field)
              headers[field] = value if value
            end
            return context if headers.empty?

            context = with_baggage(context, headers["baggage"]) if headers.key?("baggage") && Native.propagates_baggage?
            remote = Native.extract(headers)
            return context unless remote.valid?

            OTrace.context_with_span(RemoteSpan.new(remote, API.span_context(remote.span_context, true)),
                                     parent_context: context)
          rescue StandardError => e # as the API's propagators: the context unchanged
            ::OpenTelemetry.handle_error(exception: e, message: "tasker_core-tracing: extract failed")
            context
          end

          def fields = FIELDS

          private

          # The API's baggage entries after the core's, unless the core's has their key (W3C
          # baggage encoding; the API's own propagator needs Ruby 3.2's URI.encode_uri_component).
          def merge_baggage(headers, context)
            ours = headers["baggage"].to_s
            keys = ours.split(",").map { |member| decode(member.split("=", 2).first.strip) }
            added = ::OpenTelemetry::Baggage.raw_entries(context: context).filter_map do |key, entry|
              next if keys.include?(key.to_s)

              member = "#{encode(key.to_s)}=#{encode(entry.value.to_s)}"
              entry.metadata ? "#{member};#{entry.metadata}" : member
            end
            return if added.empty?

            headers["baggage"] = (ours.empty? ? added : [ours] + added).join(",")
          end

          # +context+ with the entries of a baggage header as the API's baggage.
          def with_baggage(context, header)
            ::OpenTelemetry::Baggage.build(context: context) do |builder|
              header.split(",").each do |member|
                pair, metadata = member.split(";", 2)
                key, value = pair.split("=", 2).map { |part| decode(part.strip) }
                builder.set_value(key, value, metadata: metadata&.strip) unless key.nil? || key.empty? || value.nil?
              end
            end
          end

          def encode(text) = text.b.gsub(/[^A-Za-z0-9\-._~]/n) { |c| format("%%%02X", c.ord) }

          def decode(text) = text.b.gsub(/%\h\h/) { |hex| hex[1, 2].hex.chr }.force_encoding(Encoding::UTF_8).scrub
        end

        # Prepended to OpenTelemetry::Context's singleton class: the API's context and this
        # fiber's TaskerCore::Tracing state (the truth for the current span) stay one.
        module ContextHook
          # The API's current context, when its span is TaskerCore::Tracing's current parent;
          # otherwise that context with the current parent as its span.
          def current = API.current(super)

          # Makes the context's span TaskerCore::Tracing's current parent too.
          def attach(context)
            token = super
            API.attached(context, token)
            token
          end

          # Restores TaskerCore::Tracing's parent of before the matching +attach+.
          def detach(token)
            size = Fiber.current.opentelemetry_context&.size if RAW_STACK
            begin
              super
            ensure
              API.detached(size)
            end
          end

          # Also forgets what +attach+ replaced.
          def clear
            super
          ensure
            API.cleared
          end
        end

        @provider = TracerProvider.new
        @root = nil
        @foreign = nil

        class << self
          # Makes the API's globals the bridge's.
          def install
            unless OContext.singleton_class.include?(ContextHook)
              OContext.singleton_class.prepend(ContextHook)
            end
            ::OpenTelemetry.tracer_provider = @provider
            ::OpenTelemetry.propagation = Propagator.new
          end

          # --- spans -------------------------------------------------------------------------

          # A bridge span, or a non-recording one carrying the parent's context when info is
          # below the level.
          def start(name, target, attributes, links, kind, parent, correlation)
            unless Tracing.enabled_index?(INFO)
              return OTrace.non_recording_span(parent_span_context(parent))
            end

            native = Native.start_otel_span(INFO, name || "empty", target, attributes, parent, correlation, kind)
            links&.each { |link| add_link(native, link) }
            Span.new(native, parent)
          end

          # Adds an OpenTelemetry::Trace::Link to a native span.
          def add_link(native, link)
            sc = link.span_context
            return unless sc&.valid?

            native._add_link(sc.trace_id, sc.span_id, sc.trace_flags.sampled? ? 1 : 0, sc.tracestate.to_s,
                             link.attributes)
          end

          # A SpanContext from +[trace_id, span_id, flags, tracestate]+ of the extension; nil
          # when the ids are invalid.
          def span_context(parts, remote)
            trace_id, span_id, flags, tracestate = parts
            return nil if trace_id == OTrace::INVALID_TRACE_ID || span_id == OTrace::INVALID_SPAN_ID

            OTrace::SpanContext.new(
              trace_id: trace_id, span_id: span_id, trace_flags: OTrace::TraceFlags.from_byte(flags),
              tracestate: tracestate.empty? ? OTrace::Tracestate::DEFAULT : OTrace::Tracestate.from_string(tracestate),
              remote: remote
            )
          end

          # The SpanContext of a native parent (invalid for none).
          def parent_span_context(parent)
            case parent
            when Native::Span then span_context(parent.span_context, false)
            when Native::Remote then span_context(parent.span_context, true)
            end || OTrace::SpanContext::INVALID
          end

          # The parent of a span started in a new trace: an empty remote context.
          def root = (@root ||= Native.extract({}))

          # +[native parent, correlation or nil]+ for an OpenTelemetry context: the bridge
          # span's native span, the extracted remote context (with its correlation), a remote
          # context with the ids of another SDK's span, or nil (no span: as TaskerCore::Tracing
          # without a parent, the Rust span that called into Ruby, if any, else a new trace).
          def native_parent(context)
            span = OTrace.current_span(context)
            case span
            when Span then [span.native, nil]
            when RemoteSpan then [span.remote, span.remote.correlation]
            when RustSpan then [nil, nil]
            else
              sc = span.context
              sc.valid? ? [foreign(sc), nil] : [root, nil] # no span: a new trace
            end
          end

          # A native remote context with the ids of another SDK's span (the last one is kept).
          def foreign(sc)
            last = @foreign
            return last[1] if last && last[0].equal?(sc)

            flags = sc.trace_flags.sampled? ? "01" : "00"
            headers = { "traceparent" => "00-#{sc.hex_trace_id}-#{sc.hex_span_id}-#{flags}" }
            headers["tracestate"] = sc.tracestate.to_s unless sc.tracestate.to_s.empty?
            remote = Native.extract(headers)
            @foreign = [sc, remote]
            remote
          end

          # --- context -----------------------------------------------------------------------

          # +attach+: this fiber's parent (and, for an extracted context, correlation) becomes
          # the context's; what it replaced is kept for +detach+.
          def attached(context, token)
            s = Tracing.state
            entry = [token, context, s.stack, s.correlation, s.remote, nil]
            parent, correlation = native_parent(context)
            # A context derived from the current one (with_value, Baggage) keeps the state.
            unless parent.equal?(s.parent)
              if Native::Span === parent # rubocop:disable Style/CaseEquality
                s.stack = [parent]
              else
                s.stack = []
                s.remote = parent
                s.correlation = correlation if correlation
              end
            end
            entry[5] = s.parent
            (s.otel_attached ||= []) << entry
          end

          # +detach+ of the context attached at OpenTelemetry's stack size +size+ (nil: unknown,
          # the last one).
          def detached(size)
            s = Tracing.state
            attached = s.otel_attached
            return if attached.nil? || attached.empty? || (size && attached.last[0] != size)

            _token, _context, s.stack, s.correlation, s.remote, = attached.pop
          end

          # +clear+: back to the state of before the first +attach+ still in place.
          def cleared
            s = Tracing.state
            attached = s.otel_attached
            return if attached.nil? || attached.empty?

            _token, _context, s.stack, s.correlation, s.remote, = attached.first
            attached.clear
          end

          # +Context.current+: +context+ (the top of the API's stack) when its span is this
          # fiber's parent, else a context with a span for the parent (the last one is kept).
          #
          # The span shown is the one the core would parent a new span to
          # (+Native.shown_parent+, the same rule as Python's bridge): without a Ruby parent,
          # the Rust span that called into Ruby, if any.
          def current(context)
            s = Tracing.state
            parent = s.parent
            # What the core would parent a new span to: +parent+ itself unless a Rust span was
            # entered since (then that one), computed on every call (a cached answer would go
            # stale when Rust code calls back into Ruby).
            shown = Native.shown_parent(parent)
            top = s.otel_attached&.last
            if top
              return context if top[1].equal?(context) && top[5].equal?(parent) && shown.equal?(parent)
            elsif shown.nil?
              return context
            end
            if shown.equal?(parent)
              memo = s.otel_current
              return memo if memo && memo.native.equal?(parent) && memo.origin.equal?(context)
            end

            built = context_for(context, parent, shown)
            s.otel_current = built if shown.equal?(parent)
            built
          end

          private

          # +context+ with +shown+ (what +Native.shown_parent+ gave for +parent+) as its span.
          def context_for(context, parent, shown)
            span = case shown
                   when Native::Span then Span.new(shown)
                   when Native::Remote
                     sc = span_context(shown.span_context, true)
                     sc ? RemoteSpan.new(shown, sc) : OTrace::Span::INVALID
                   when Array
                     sc = span_context(shown, false)
                     sc ? RustSpan.new(sc) : OTrace::Span::INVALID
                   else OTrace::Span::INVALID
                   end
            WithSpan.new(context, span, parent)
          end
        end
      end
    end
  end
end
