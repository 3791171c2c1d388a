# frozen_string_literal: true

module TaskerCore
  module Tracing
    class << self
      # Adds +value+ to the counter +name+.
      def counter(name, value = 1, **labels) = metric(:counter, name, value, labels)

      # Adds +value+ (may be negative) to the up-down counter +name+.
      def up_down_counter(name, value, **labels) = metric(:up_down_counter, name, value, labels)

      # Records +value+ in the histogram +name+ (catalogue durations are in ms).
      def histogram(name, value, **labels) = metric(:histogram, name, value, labels)

      # Sets the gauge +name+ to +value+.
      def gauge(name, value, **labels) = metric(:gauge, name, value, labels)

      # Emits a lifecycle event (e.g. "step.completed") along the core's route: span event,
      # log line, counter and histogram.
      def lifecycle(name, duration_ms: nil, labels: {}, **fields)
        duration = duration_ms.equal?(nil) ? nil : number(duration_ms) { "lifecycle #{safe_string(name)} duration_ms" }
        s = state
        Native.lifecycle(name, duration, hash_arg(labels, "lifecycle labels"), fields, s.parent, s.correlation)
      end

      private

      def metric(kind, name, value, labels)
        Native.record_metric(kind, name, number(value) { "#{kind} #{safe_string(name)} value" }, labels)
        true
      end
    end
  end
end
