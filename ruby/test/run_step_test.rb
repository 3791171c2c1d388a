# frozen_string_literal: true

require_relative "test_helper"

# run_step: the core's per-step path hosting a Ruby handler in-process.
class RunStepTest < Minitest::Test
  include TestSupport

  def step_message(step_name, headers = {})
    { step_name: step_name, handler: "PaymentHandler", attempt: 1, namespace: "payments",
      correlation_id: "0190e7c4-5d2a-7cc0-a7a3-4f1d0c9a0b21", task_uuid: "0190e7c4-5d2a-7cc0-a7a3-4f1d0c9a0b22",
      headers: headers }
  end

  def test_the_handler_runs_inside_the_rust_step_span_which_continues_the_headers
    sender = unique("orchestrator_step")
    headers = nil
    T.span(sender) { headers = T.inject }
    step_name = unique("charge")
    inner = unique("inside_run_step")
    before = T.stats[:spans_ended]
    value = T.run_step(step_message(step_name, headers)) do
      assert_equal "0190e7c4-5d2a-7cc0-a7a3-4f1d0c9a0b21", T.current_correlation_id
      T.handler_span("PaymentHandler", step_name: step_name) { T.span(inner) { 42 } }
    end
    assert_equal 42, value
    step = COLLECTOR.span("execute_step") { |s| s[:attributes]["step_name"] == step_name }
    handler = COLLECTOR.span("handler_execution") { |s| s[:attributes]["step_name"] == step_name }
    assert_equal COLLECTOR.span(sender)[:span_id], step[:parent_id]
    assert_equal step[:span_id], handler[:parent_id], "the Ruby handler nests under the current Rust span"
    assert_equal handler[:span_id], COLLECTOR.span(inner)[:parent_id]
    assert_equal "0190e7c4-5d2a-7cc0-a7a3-4f1d0c9a0b21", handler[:attributes]["correlation_id"]
    assert_equal %w[step.claimed step.executing step.completed], step[:events]
    assert_operator T.stats[:spans_ended], :>=, before + 3
  end

  def test_an_exception_fails_the_step_and_is_reraised_unchanged
    step_name = unique("declined")
    error = assert_raises(ArgumentError) { T.run_step(step_message(step_name)) { raise ArgumentError, "card declined" } }
    assert_equal "card declined", error.message
    step = COLLECTOR.span("execute_step") { |s| s[:attributes]["step_name"] == step_name }
    assert_equal "STATUS_CODE_ERROR", step[:status]
    assert_includes step[:events], "step.failed"
  end

  def test_a_throw_out_of_the_block_completes_the_step_and_goes_on
    step_name = unique("halted")
    value = catch(:halt) { T.run_step(step_message(step_name)) { throw :halt, 7 } }
    assert_equal 7, value
    step = COLLECTOR.span("execute_step") { |s| s[:attributes]["step_name"] == step_name }
    refute_equal "STATUS_CODE_ERROR", step[:status]
    assert_includes step[:events], "step.completed"
    refute_includes step[:events], "step.failed"
  end

  def test_an_invalid_message_raises_the_gems_error_naming_the_field
    error = assert_raises(T::Error) { T.run_step(attempt: 1) { flunk "must not run" } }
    assert_match(/step_name/, error.message)
    error = assert_raises(T::Error) { T.run_step(step_name: "x", task_uuid: "nope") { flunk "must not run" } }
    assert_match(/task_uuid/, error.message)
  end
end
