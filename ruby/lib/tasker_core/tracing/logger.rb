# frozen_string_literal: true

module TaskerCore
  module Tracing
    # A ::Logger whose lines go through the core (console/JSON, OTLP, redaction, correlation)
    # instead of an IO. It takes ::Logger's constructor and calls, so it drops in wherever a
    # Logger is built or used:
    #
    #   Rails.logger = TaskerCore::Tracing::Logger.new($stdout, progname: "worker")
    #   logger.info("charged")               # message
    #   logger.info { "expensive" }          # block evaluated only when enabled
    #   logger.info("Billing") { "charged" } # ::Logger: the argument is the progname, the block the message
    #   logger.warn("slow", ms: 830)         # fields (an extension; plain Loggers take one argument)
    #   logger.level = :warn
    #
    # The log device (+Logger.new($stdout)+, a path, an IO, nil) and its rotation arguments
    # (+shift_age+, +shift_size+, +binmode:+, +shift_period_suffix:+) are accepted and ignored:
    # the core owns the sink (console or JSON lines on stderr, OTLP export), so nothing is
    # written to, opened at, or closed on the given device.
    #
    # - Target (what filters match): "ruby.<progname>" when a progname is set (at construction,
    #   by +progname=+, or per call as in +info("Billing") { ... }+), else "ruby"; +target:+ wins.
    # - Levels: +level=+ works as in ::Logger; +debug?+ ... +fatal?+ are also false when the
    #   core would drop that level. FATAL and UNKNOWN are recorded at the core's error level
    #   with a +severity+ field ("FATAL" or "ANY").
    # - +formatter+ (nil by default): when set, the recorded message is
    #   +formatter.call(severity, time, progname, msg)+ without its trailing newline, which is
    #   how ActiveSupport::TaggedLogging adds its tags; the core formats the rest of the line.
    #   +datetime_format+ is kept for ::Logger compatibility and unused.
    # - Messages: a String; an Exception (its message, with +exception.type+,
    #   +exception.message+, +exception.stacktrace+ fields); a Hash (its +:message+ is the text,
    #   the rest fields); anything else by +inspect+. Extra arguments become fields (a Hash) or
    #   the +extra+ field. A log call never raises: a failure is reported once on stderr.
    class Logger < ::Logger
      # ::Logger severities (DEBUG=0 ... UNKNOWN=5) to core level indices (0 = trace ... 4 = error).
      LEVEL_INDEX = Tracing::SEVERITY_LEVELS
      # ::Logger's severity labels.
      LABELS = %w[DEBUG INFO WARN ERROR FATAL ANY].freeze
      # Severity names accepted by +add+ besides Integers (an extension; ::Logger takes Integers).
      SEVERITY_NAMES = {
        "debug" => ::Logger::DEBUG, "info" => ::Logger::INFO, "warn" => ::Logger::WARN,
        "warning" => ::Logger::WARN, "error" => ::Logger::ERROR, "fatal" => ::Logger::FATAL,
        "unknown" => ::Logger::UNKNOWN, "any" => ::Logger::UNKNOWN
      }.freeze
      NO_FIELDS = {}.freeze
      private_constant :LEVEL_INDEX, :LABELS, :SEVERITY_NAMES, :NO_FIELDS

      # @param logdev [IO, String, nil] accepted for ::Logger compatibility and ignored (the core owns the sink)
      # @param shift_age, shift_size, binmode, shift_period_suffix ignored, as +logdev+
      # @param level [Integer, Symbol, String] the Logger level (default DEBUG: the core's filter decides)
      # @param progname [Object, nil] default program name, also the target suffix
      # @param formatter [#call, nil] shapes the message text when set
      # @param datetime_format [String, nil] kept as in ::Logger
      # @param target [String, nil] the target of every line, instead of "ruby.<progname>"
      def initialize(logdev = nil, shift_age = 0, shift_size = 1048576, level: ::Logger::DEBUG, progname: nil, # rubocop:disable Lint/UnusedMethodArgument
                     formatter: nil, datetime_format: nil, binmode: false, shift_period_suffix: "%Y%m%d", target: nil)
        super(nil, level: level, progname: progname, formatter: formatter, datetime_format: datetime_format)
        @target = NilClass === target ? nil : safe_string(target)
        @target_cache = nil
      end

      # ::Logger#add: records one event; returns true like ::Logger, never raises.
      #   add(Logger::INFO, "message")
      #   add(Logger::INFO) { "message" }
      #   add(Logger::INFO, nil, "progname") { "message" }
      #   add(Logger::INFO, "message", nil, order_id: 7)     # fields (an extension)
      def add(severity, message = nil, progname = nil, *args, **kw, &block)
        severity = severity_of(severity)
        return true if severity < level

        index = core_index(severity)
        return true unless Tracing.enabled_index?(index)

        if NilClass === message && block.nil? && NilClass === progname && args.empty? && !kw.empty?
          message = kw # info(message: "text", order_id: 7): the Hash message form
          kw = NO_FIELDS
        end
        progname = @progname if NilClass === progname
        if NilClass === message
          if block
            message = block.call
          else
            message = progname
            progname = @progname
          end
        end
        text, fields = split(message)
        fields = extra_fields(fields, args, kw) unless args.empty? && kw.empty?
        text = formatted(severity, progname, Hash === message ? text : message, text) unless NilClass === @formatter
        (fields ||= {})[:severity] = severity > ::Logger::UNKNOWN ? "ANY" : LABELS[severity] if severity >= ::Logger::FATAL
        # the fields go as emit's keywords Hash, used as is (no merge, no copy)
        Tracing.emit(index, target_for(progname), text, nil, fields || NO_FIELDS, Exception === message ? message : nil)
        true
      rescue StandardError => e # a logger never raises; Interrupt, SystemExit and throw go on
        report(e)
        true
      end
      alias log add

      # debug/info/warn/error/fatal/unknown as in ::Logger: the argument is the message, or the
      # progname when a block gives the message. Further arguments and keywords are fields.
      { debug: ::Logger::DEBUG, info: ::Logger::INFO, warn: ::Logger::WARN, error: ::Logger::ERROR,
        fatal: ::Logger::FATAL, unknown: ::Logger::UNKNOWN }.each do |name, severity|
        class_eval <<~RUBY, __FILE__, __LINE__ + 1
          def #{name}(progname = nil, *args, **kw, &block)                  # def info(progname = nil, *args, **kw, &block)
            return true if #{severity} < level || !Tracing.enabled_index?(#{LEVEL_INDEX[severity]}) #   return true if 1 < level || !Tracing.enabled_index?(2)
            return add(#{severity}, nil, progname, &block) if args.empty? && kw.empty? #   return add(1, nil, progname, &block) if ...
                                                                             #   (no splat: half the cost)
            add(#{severity}, nil, progname, *args, **kw, &block)             #   add(1, nil, progname, *args, **kw, &block)
          end
        RUBY
      end

      # debug? ... fatal?: whether a line at that severity would be recorded (this Logger's
      # level and the core's filter).
      %i[debug info warn error fatal].each do |name|
        severity = ::Logger.const_get(name.upcase)
        class_eval <<~RUBY, __FILE__, __LINE__ + 1
          def #{name}?                                                  # def info?
            level <= #{severity} && Tracing.enabled_index?(#{LEVEL_INDEX[severity]}) #   level <= 1 && Tracing.enabled_index?(2)
          end
        RUBY
      end

      # Raw write, whatever the level (as ::Logger#<<): recorded as an info event without the
      # trailing newline (no formatter).
      def <<(message)
        return self unless Tracing.enabled_index?(LEVEL_INDEX[::Logger::INFO])

        Tracing.emit(LEVEL_INDEX[::Logger::INFO], target_for(@progname), safe_string(message).chomp, nil, NO_FIELDS)
        self
      rescue StandardError => e # a logger never raises; Interrupt, SystemExit and throw go on
        report(e)
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

      # ::Logger severity as an Integer: nil (and anything unrecognised) is UNKNOWN.
      def severity_of(severity)
        case severity
        when Integer then severity
        when Symbol, String then SEVERITY_NAMES.fetch(severity.to_s.downcase, ::Logger::UNKNOWN)
        when Numeric then Integer(severity)
        else ::Logger::UNKNOWN
        end
      rescue StandardError # a NaN, an invalid byte sequence
        ::Logger::UNKNOWN
      end

      # The core level index of a ::Logger severity (below DEBUG is debug, above UNKNOWN error).
      def core_index(severity)
        return LEVEL_INDEX[::Logger::DEBUG] if severity < ::Logger::DEBUG
        return LEVEL_INDEX[::Logger::UNKNOWN] if severity > ::Logger::UNKNOWN

        LEVEL_INDEX[severity]
      end

      # "ruby.<progname>", "ruby", or the +target:+ given; cached for the last progname.
      def target_for(progname)
        return @target if @target
        return "ruby" if NilClass === progname || (String === progname && progname.empty?)

        cached = @target_cache
        return cached[1] if cached && (String === progname || Symbol === progname) && cached[0] == progname

        target = "ruby.#{safe_string(progname)}".freeze
        if String === progname || Symbol === progname
          @target_cache = [progname.frozen? ? progname : progname.dup.freeze, target].freeze
        end
        target
      end

      # The message text and its fields (a new Hash, or nil for none).
      def split(message)
        case message
        when ::String then [message, nil]
        when ::Exception
          [safe_string(safe_call { message.message }), nil] # the core adds the exception.* fields
        when ::Hash
          fields = message.dup
          text = fields.key?(:message) ? fields.delete(:message) : fields.delete("message")
          [NilClass === text ? "" : safe_string(text), fields]
        else [safe_inspect(message), nil]
        end
      end

      # +fields+ with the extra arguments of a log call: Hashes merged in, anything else kept
      # as +extra+ (one value, or an Array of them); then the keywords.
      def extra_fields(fields, args, kw)
        return kw if NilClass === fields && args.empty? # **kw is this call's own Hash

        fields ||= {}
        others = nil
        args.each do |arg|
          case arg
          when nil then next
          when ::Hash then fields.merge!(arg)
          else (others ||= []) << arg
          end
        end
        fields[:extra] = others.size == 1 ? others.first : others if others
        fields.merge!(kw) unless kw.empty?
        fields
      end

      # The formatter's text for one line (its trailing newline removed); the unformatted text
      # when the formatter raises (reported once).
      def formatted(severity, progname, message, text)
        label = severity > ::Logger::UNKNOWN || severity.negative? ? "ANY" : LABELS[severity]
        safe_string(@formatter.call(label, Time.now, progname, message)).chomp
      rescue StandardError => e # a logger never raises; Interrupt, SystemExit and throw go on
        report(e)
        text
      end

      def safe_call
        yield
      rescue StandardError
        nil
      end

      def safe_string(value) = Tracing.safe_string(value)
      def safe_inspect(value) = Tracing.safe_inspect(value)

      def report(error) = Tracing.report_failure(error)
    end
  end
end
