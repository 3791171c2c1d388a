# frozen_string_literal: true

require_relative "test_helper"

# The context rule (the core's, the same in Python): the current span comes from fiber-local
# state only; nothing is left current on the thread in Rust, so fibers interleaved by a
# scheduler (Falcon, async) never see each other's spans or correlation.
class ContextRuleTest < Minitest::Test
  include TestSupport

  CID1 = "0190e7c4-5d2a-7cc0-a7a3-4f1d0c9a0c01"
  CID2 = "0190e7c4-5d2a-7cc0-a7a3-4f1d0c9a0c02"

  def test_two_run_steps_interleaved_by_fibers_keep_their_own_span_and_correlation
    # What a Fiber scheduler does: step 1 yields in the middle of its handler, step 2 runs
    # whole, then step 1 goes on. Before: step 2 nested under step 1's execute_step and logged
    # step 1's correlation id.
    first, second = unique("first_step"), unique("second_step")
    seen = {}
    f1 = Fiber.new do
      T.run_step(step_name: first, correlation_id: CID1) do
        seen[:first_before] = T.current_correlation_id
        Fiber.yield
        seen[:first_after] = T.current_correlation_id
      end
    end
    f1.resume
    Fiber.new do
      T.run_step(step_name: second, correlation_id: CID2) { seen[:second] = T.current_correlation_id }
    end.resume
    f1.resume
    assert_equal({ first_before: CID1, second: CID2, first_after: CID1 }, seen)
    step1 = COLLECTOR.span("execute_step") { |s| s[:attributes]["step_name"] == first }
    step2 = COLLECTOR.span("execute_step") { |s| s[:attributes]["step_name"] == second }
    assert_empty step2[:parent_id].to_s, "the second step is a root, not a child of the first"
    refute_equal step1[:trace_id], step2[:trace_id]
    assert_equal CID2, step2[:attributes]["correlation_id"]
  end

  def test_nothing_is_left_current_on_the_thread_after_a_span
    T.span(unique("outer")) do
      assert_nil T::Native.current(nil, nil)[1], "the Rust side of the thread sees no Ruby span"
    end
    assert_nil T::Native.current(nil, nil)[1]
    T.run_step(step_name: unique("left_nothing")) { nil }
    assert_nil T::Native.current(nil, nil)[1], "nor after run_step"
    assert_nil T.current_span_id
  end

  def test_a_new_fiber_starts_empty_and_with_context_hands_over
    # Ruby 3.1 has no inheritable fiber storage: documented, with with_context as the hand-off.
    T.span(unique("fiber_parent")) do |parent|
      ctx = T.current_context
      plain = Fiber.new { T.current_span_id }.resume
      handed = Fiber.new { T.with_context(ctx) { T.current_span_id } }.resume
      if Fiber.respond_to?(:[]) # Ruby 3.2+: inherited
        assert_equal parent.span_id, plain
      else
        assert_nil plain
      end
      assert_equal parent.span_id, handed
    end
  end

  def test_enumerator_next_starts_empty_on_ruby_3_1_and_inherits_on_3_2
    T.span(unique("enumerator_parent")) do |parent|
      seen = Enumerator.new { |y| y << T.current_span_id }.next
      if Fiber.respond_to?(:[])
        assert_equal parent.span_id, seen, "fiber storage is inherited (Ruby 3.2+)"
        inherited = Fiber.new { T.current_span_id }.resume
        assert_equal parent.span_id, inherited
        assert_equal parent.span_id, Thread.new { T.current_span_id }.value
      else
        assert_nil seen, "Ruby 3.1: an Enumerator's fiber starts empty (documented)"
      end
      ctx = T.current_context
      handed = Enumerator.new { |y| T.with_context(ctx) { y << T.current_span_id } }.next
      assert_equal parent.span_id, handed
    end
  end

  def test_a_span_started_from_a_finished_spans_context_is_its_child
    # Ruby and Python agree (the core decides): the finished span is still the parent.
    name = unique("late_child")
    ctx = nil
    parent = T.span(unique("finished_parent")) do |s|
      ctx = T.current_context
      s
    end
    T.with_context(ctx) { T.span(name) { nil } }
    assert_equal parent.span_id, COLLECTOR.span(name)[:parent_id]
  end

  def test_instrument_wraps_methods_in_spans
    klass = Class.new do
      extend TaskerCore::Tracing::Instrument
      def charge(order_id, amount:) = order_id * amount
      instrument :charge, name: "instrumented_charge", record_args: true
    end
    assert_equal 21, klass.new.charge(7, amount: 3)
    span = COLLECTOR.span("instrumented_charge")
    assert_equal "7", span[:attributes]["order_id"]
    assert_equal "3", span[:attributes]["amount"]
  end
end
