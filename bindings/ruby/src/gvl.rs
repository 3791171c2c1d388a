//! Running blocking work (flush, shutdown) without holding Ruby's GVL.

use std::ffi::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};

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
/// Returns `None` if `f` panicked.
pub fn without_gvl<F: FnOnce() -> R, R>(f: F) -> Option<R> {
    let mut call = Call {
        f: Some(f),
        result: None,
    };
    // SAFETY: the callback touches no Ruby object; no unblocking function is needed because the
    // work is bounded by its own timeout.
    unsafe {
        rb_sys::rb_thread_call_without_gvl(
            Some(trampoline::<F, R>),
            &mut call as *mut Call<F, R> as *mut c_void,
            None,
            std::ptr::null_mut(),
        );
    }
    call.result.and_then(Result::ok)
}
