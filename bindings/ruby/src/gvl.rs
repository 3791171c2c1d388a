//! Running blocking work (start-up, init, flush, shutdown) without holding Ruby's GVL.
//!
//! `rb_thread_call_without_gvl2` is used, never `rb_thread_call_without_gvl`: the latter raises a
//! pending interrupt (`Thread#raise`, Ctrl-C) by unwinding straight through the Rust frames that
//! called it. Here a pending interrupt is raised by `Ruby::thread_check_ints`, which hands it
//! back as an ordinary error.

use std::ffi::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};

use magnus::{Error, Ruby};
use tasker_telemetry::error::TelemetryError;
use tasker_telemetry::foreign;
use tasker_telemetry::pipeline::Pending;

use crate::errors::error;

struct Call<F, R> {
    f: Option<F>,
    result: Option<std::thread::Result<R>>,
}

unsafe extern "C" fn trampoline<F: FnOnce() -> R, R>(data: *mut c_void) -> *mut c_void {
    // SAFETY: `data` is the `Call` owned by `without_gvl`, alive for the whole call.
    let call = unsafe { &mut *(data as *mut Call<F, R>) };
    if let Some(f) = call.f.take() {
        call.result = Some(catch_unwind(AssertUnwindSafe(f)));
    }
    std::ptr::null_mut()
}

/// Runs `f` with the GVL released (other Ruby threads run meanwhile). `f` must not touch Ruby.
/// An interrupt pending before `f` could start is raised (as the error) and `f` does not run;
/// one that comes while `f` runs is left for Ruby to raise once the method returns. A panic in
/// `f` is an error.
pub fn without_gvl<F: FnOnce() -> R, R>(ruby: &Ruby, f: F) -> Result<R, Error> {
    let mut call = Call {
        f: Some(f),
        result: None,
    };
    loop {
        // SAFETY: the callback touches no Ruby object; no unblocking function is needed because
        // the work is bounded by its own timeout (and `wait` below runs it in short slices).
        unsafe {
            rb_sys::rb_thread_call_without_gvl2(
                Some(trampoline::<F, R>),
                &mut call as *mut Call<F, R> as *mut c_void,
                None,
                std::ptr::null_mut(),
            );
        }
        match call.result.take() {
            Some(Ok(result)) => return Ok(result),
            Some(Err(_)) => return Err(error(ruby, "the operation panicked")),
            // Not started: an interrupt was pending. Raise it; if it was handled without an
            // exception (a trap handler), start again.
            None => ruby.thread_check_ints()?,
        }
    }
}

/// Waits for a flush or shutdown in slices of [`foreign::WAIT_SLICE`] without the GVL, raising
/// a `Thread#raise`, `Thread#kill` or signal that arrives meanwhile within one slice.
pub fn wait(ruby: &Ruby, pending: Pending) -> Result<Result<(), TelemetryError>, Error> {
    foreign::wait(
        pending,
        |p| without_gvl(ruby, || p.wait(foreign::WAIT_SLICE)),
        || ruby.thread_check_ints(),
    )
}
