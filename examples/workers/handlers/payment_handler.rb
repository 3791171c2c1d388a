# frozen_string_literal: true

require "tasker_core/tracing"

# Raised when the (simulated) card issuer declines.
class PaymentDeclined < StandardError; end

# The charge_payment step: authorises and captures the order amount (simulated).
class PaymentHandler
  def initialize(logger)
    @logger = logger
  end

  def call(input, fail: false)
    amount = input.fetch("amount_cents")
    TaskerCore::Tracing.span("authorize_card", order_id: input["order_id"], amount_cents: amount,
                                               api_key: "sk_live_example_key") do |span|
      @logger.info("authorizing card for order #{input["order_id"]}")
      sleep 0.004
      raise PaymentDeclined, "card declined by issuer (simulated)" if fail

      span[:authorization] = "auth-#{input["order_id"]}"
    end
    TaskerCore::Tracing.span("capture_payment", amount_cents: amount) { sleep 0.002 }
    TaskerCore::Tracing.counter("payments_captured_total", 1, currency: "EUR")
    TaskerCore::Tracing.histogram("payment_amount_cents", amount, currency: "EUR")
    TaskerCore::Tracing.info("payment captured", amount_cents: amount, card_token: "tok_visa_4242")
    { "charge_id" => "ch_#{input["order_id"]}", "amount_cents" => amount }
  end
end
