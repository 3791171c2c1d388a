# frozen_string_literal: true

module TaskerCore
  module Tracing
    # A ::Logger whose lines go through the core (console/JSON, OTLP, redaction, correlation)
    # instead of an IO. Usable wherever a Logger is:
    #
    #   Rails.logger = TaskerCore::Tracing::Logger.new(progname: "worker")
    #   logger.info("charged")            # message
    #   logger.info { "expensive" }       # block evaluated only when enabled
    #   logger.warn("slow", ms: 830)      # fields (an extension; plain Loggers take one argument)
    #   logger.level = :warn
    #
    # The target (what filters match) is "ruby.<progname>", or "ruby".
    class Logger < ::Logger
      # @param progname [String, nil] default program name, also the target suffix
      # @param level [Integer, Symbol, String] the Logger level (default DEBUG: the core's filter decides)
      def initialize(progname: nil, level: ::Logger::DEBUG, target: nil)
        super(nil, progname: progname, level: level)
        @target = target || (progname ? "ruby.#{Tracing.send(:safe_string, progname)}" : "ruby")
      end

      # ::Logger#add: records one event; returns true like ::Logger.
      def add(severity, message = nil, progname = nil, fields = nil, &block)
        severity ||= ::Logger::UNKNOWN
        return true if severity < level

        index = SEVERITY_LEVELS.fetch(severity, 4)
        return true unless Tracing.enabled_index?(index)

        progname ||= @progname
        if message.nil?
          if block
            message = block.call
          else
            message = progname
            progname = @progname
          end
        end
        text, extra = split(message)
        extra = extra.merge(fields) if fields
        extra[:progname] = progname if progname && progname != @progname
        extra[:severity] = ::Logger::SEV_LABEL[severity] || "ANY" if severity >= ::Logger::FATAL
        Tracing.emit(index, @target, text, extra, {})
        true
      rescue Exception => e # rubocop:disable Lint/RescueException -- a logger never raises
        Tracing.send(:report, e)
        true
      end
      alias log add

      %i[debug info warn error fatal unknown].each do |name|
        severity = ::Logger.const_get(name.upcase)
        define_method(name) do |message = nil, fields = nil, **kw, &block|
          return true if severity < level

          add(severity, message, nil, fields ? fields.to_h.merge(kw) : (kw.empty? ? nil : kw), &block)
        end
      end

      # Raw write: recorded as an info event without the trailing newline.
      def <<(message)
        add(::Logger::INFO, Tracing.send(:safe_string, message).chomp)
        self
      end

      # Runs the block with the level raised to +temporary_level+ (Rails' LoggerSilence).
      def silence(temporary_level = ::Logger::ERROR)
        previous = level
        self.level = temporary_level
        yield self
      ensure
        self.level = previous
      end

      # No IO to reopen or close.
      def reopen(_logdev = nil) = self
      def close = nil

      private

      def split(message)
        case message
        when ::String then [message, {}]
        when ::Exception
          [message.message.to_s,
           { "exception.type" => message.class.name, "exception.message" => message.message.to_s,
             "exception.stacktrace" => (message.backtrace || []).join("\n") }]
        when ::Hash
          fields = message.dup
          text = fields.delete(:message) || fields.delete("message") || ""
          [text.to_s, fields]
        else [message.inspect, {}]
        end
      end
    end
  end
end
