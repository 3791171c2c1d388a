# frozen_string_literal: true

module TaskerCore
  module Tracing
    # Runs each call of the named methods in a span (Python's +@instrument+):
    #
    #   class PaymentHandler
    #     extend TaskerCore::Tracing::Instrument
    #
    #     def call(order_id, amount:) = ...
    #     instrument :call                                  # span "PaymentHandler#call"
    #     instrument :refund, name: "refund", level: :debug, record_args: true
    #   end
    #
    # The span covers the whole call, an exception is recorded and re-raised, and the method's
    # value is returned. With +record_args: true+ the arguments become attributes under their
    # parameter names. Works for methods defined before or after the +instrument+ line.
    module Instrument
      # Wraps +method_names+ (Symbols) in spans named +name+ (default "Class#method").
      def instrument(*method_names, name: nil, level: :info, record_args: false)
        Tracing.level_index(level) # an unknown level is an error here, not at the first call
        owner = self
        wrapper = Module.new do
          method_names.each do |method_name|
            span_name = name || "#{owner.name || owner.inspect}##{method_name}"
            define_method(method_name) do |*args, **kw, &block|
              fields = record_args ? Instrument.arguments(owner, method_name, args, kw) : {}
              Tracing.span(level, span_name, **fields) { super(*args, **kw, &block) }
            end
          end
        end
        prepend(wrapper)
        method_names.size == 1 ? method_names.first : method_names
      end

      # The call's arguments as fields under their parameter names (rest arguments as lists).
      # @api private
      def self.arguments(owner, method_name, args, kw)
        params = owner.instance_method(method_name).super_method&.parameters || []
        fields = {}
        positional = args.dup
        params.each do |type, param|
          case type
          when :req, :opt then fields[param] = positional.shift unless positional.empty?
          when :rest then fields[param || :args] = positional.dup.tap { positional.clear }
          end
        end
        fields.merge(kw)
      rescue StandardError
        kw
      end
    end
  end
end
