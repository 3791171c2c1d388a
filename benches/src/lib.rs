//! Shared pieces of the benchmarks (`benches/core.rs`): the trivial step handler whose framework
//! overhead is measured, and the step context it runs with. The Ruby (`benches/ruby/bench.rb`)
//! and Python (`benches/python/bench.py`) benchmarks use the same handler and context.

/// The handler's input: the numbers 1 to 100.
pub const HANDLER_INPUT: [u64; 100] = {
    let mut a = [0u64; 100];
    let mut i = 0;
    while i < 100 {
        a[i] = i as u64 + 1;
        i += 1;
    }
    a
};

/// The trivial handler: the sum of its numbers.
pub fn sum_handler(numbers: &[u64]) -> u64 {
    numbers.iter().sum()
}

/// The step context the orchestrator hands to a handler (flattened, string values).
pub fn step_context() -> Vec<(&'static str, String)> {
    vec![
        (
            "correlation_id",
            "0190a8f0-7a2b-7c3d-8e4f-5a6b7c8d9e0f".to_owned(),
        ),
        (
            "task_uuid",
            "0190a8f0-7a2b-7c3d-8e4f-5a6b7c8d9e10".to_owned(),
        ),
        (
            "step_uuid",
            "0190a8f0-7a2b-7c3d-8e4f-5a6b7c8d9e11".to_owned(),
        ),
        ("namespace", "bench".to_owned()),
        ("task_name", "sum_numbers".to_owned()),
        ("step_name", "sum".to_owned()),
        ("attempt", "1".to_owned()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_handler_sums() {
        assert_eq!(sum_handler(&HANDLER_INPUT), 5050);
    }
}
