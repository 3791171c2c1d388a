# frozen_string_literal: true

module TaskerCore
  module Tracing
    # Level names and their indices in the core (0 = trace … 4 = error): the core's one table
    # (trace, debug, info, warn/warning, error, critical/fatal), read from the extension.
    LEVELS = Native.level_names.freeze

    # ::Logger severities (DEBUG=0 … UNKNOWN=5) to core level indices.
    SEVERITY_LEVELS = [1, 2, 3, 4, 4, 4].freeze

    class << self
      # Whether an event at +level+ may be recorded. Answered in Ruby (no crossing into Rust).
      def enabled?(level) = level_index(level) >= @max_level

      # Whether a core level index (0 = trace … 4 = error) may be recorded.
      def enabled_index?(index) = index >= @max_level

      # Re-reads the most verbose level any output records (after a configuration change).
      def refresh_level
        @max_level = Native.max_level
      end

      # The core level index of +level+ (a name from LEVELS as a Symbol or String in any case,
      # or a ::Logger severity Integer).
      def level_index(level)
        case level
        when Symbol then LEVELS.fetch(level) { LEVELS.fetch(level.downcase) { raise Error, unknown_level(level) } }
        when String then LEVELS.fetch(level.strip.downcase.to_sym) { raise Error, unknown_level(level) }
        when Integer
          raise Error, unknown_level(level) if level.negative?

          SEVERITY_LEVELS.fetch(level) { raise Error, unknown_level(level) }
        else raise Error, unknown_level(level)
        end
      rescue RangeError, ArgumentError, EncodingError # a bignum, a string that is not text
        raise Error, unknown_level(level)
      end

      # A structured log event attached to the current span. Never raises.
      #   event(:info, "charged", amount: 12)
      #   debug { ["expensive", { detail: compute }] }   # block runs only when enabled
      def event(level, message = nil, fields = nil, **kw, &block)
        index = level_index(level)
        return false if index < @max_level

        emit(index, "ruby", message, fields, kw, &block)
      rescue StandardError => e # logging never raises; Interrupt, SystemExit and throw go on
        report_failure(e)
        false
      end

      # trace/debug/info/warn/warning/error/critical/fatal, compiled with `def` (a
      # define_method block costs more per call, which matters for a disabled level).
      LEVELS.each do |name, index|
        class_eval <<~RUBY, __FILE__, __LINE__ + 1
          def #{name}(message = nil, fields = nil, **kw, &block)   # def info(message = nil, ...)
            return false if #{index} < @max_level                #   return false if 2 < @max_level
                                                                  #
            emit(#{index}, "ruby", message, fields, kw, &block)  #   emit(2, "ruby", ...)
          rescue StandardError => e # Interrupt, SystemExit and throw go on
            report_failure(e)
            false
          end
        RUBY
      end

      # Emits at a core level index under +target+ (used by the Logger); +exception+ adds its
      # exception.* fields. Never raises.
      def emit(index, target, message, fields, kw, exception = nil, &block)
        if message.equal?(nil) && block
          message, extra = block.call
          fields = extra
        end
        fields = fields ? loose_hash(fields).merge(kw) : kw
        s = state
        Native.event(index, target, message, fields, s.parent, s.correlation,
                     exception && exception_parts(exception))
        true
      rescue StandardError => e # Interrupt, SystemExit and throw go on
        report_failure(e)
        false
      end

      private

      # Fields of a log call: a Hash (or anything with a working +to_h+), else the value itself
      # under +extra+, so the line is never lost.
      def loose_hash(fields)
        hash_arg(fields, "fields")
      rescue Error
        { extra: fields }
      end

      def unknown_level(level)
        "unknown level #{safe_inspect(level)}; expected one of #{LEVELS.keys.map(&:inspect).join(', ')} " \
          "(any case) or a ::Logger severity (0..5)"
      end
    end
  end
end
