//! The process's resource usage: resident and virtual memory, CPU time, threads and open file
//! descriptors, read from `/proc/self` on Linux (elsewhere every reading is `None`), and the
//! observable instruments that export them on the metrics interval with the OpenTelemetry
//! semantic-convention names:
//!
//! | metric | kind | unit | from |
//! |---|---|---|---|
//! | `process.memory.usage` | up-down counter | `By` | resident set size (`/proc/self/statm` × page size) |
//! | `process.memory.virtual` | up-down counter | `By` | virtual memory size (`/proc/self/statm`) |
//! | `process.cpu.time` | counter | `s` | `cpu.mode` = `user` / `system` (`/proc/self/stat`) |
//! | `process.open_file_descriptor.count` | up-down counter | `{file_descriptor}` | entries of `/proc/self/fd` |
//! | `process.thread.count` | up-down counter | `{thread}` | `/proc/self/stat` |
//!
//! They are registered on the exporting meter provider when metrics are exported and
//! `telemetry.metrics.process_metrics` is on (the default).
//!
//! ```
//! let usage = tasker_telemetry::process::usage();
//! if cfg!(target_os = "linux") {
//!     assert!(usage.resident_bytes.unwrap() > 0);
//!     assert!(usage.threads.unwrap() >= 1);
//! }
//! ```

use opentelemetry::metrics::{MeterProvider as _, ObservableCounter, ObservableUpDownCounter};
use opentelemetry::KeyValue;
use opentelemetry_sdk::metrics::SdkMeterProvider;

/// One reading of the process's resource usage; `None` where it cannot be read (any platform but
/// Linux, or `/proc` not mounted).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ProcessUsage {
    /// Resident set size, bytes.
    pub resident_bytes: Option<u64>,
    /// Virtual memory size, bytes.
    pub virtual_bytes: Option<u64>,
    /// CPU time spent in user mode, seconds.
    pub cpu_user_seconds: Option<f64>,
    /// CPU time spent in the kernel on the process's behalf, seconds.
    pub cpu_system_seconds: Option<f64>,
    /// Threads.
    pub threads: Option<u64>,
    /// Open file descriptors.
    pub open_file_descriptors: Option<u64>,
}

/// Reads every value of [`ProcessUsage`] now.
pub fn usage() -> ProcessUsage {
    let (resident_bytes, virtual_bytes) = memory().unzip();
    let stat = sys::stat();
    ProcessUsage {
        resident_bytes,
        virtual_bytes,
        cpu_user_seconds: stat.map(|s| s.user_seconds),
        cpu_system_seconds: stat.map(|s| s.system_seconds),
        threads: stat.map(|s| s.threads),
        open_file_descriptors: sys::open_fds(),
    }
}

/// The resident set size in bytes now (`None` off Linux).
pub fn resident_bytes() -> Option<u64> {
    memory().map(|(rss, _)| rss)
}

/// (resident, virtual) bytes.
fn memory() -> Option<(u64, u64)> {
    sys::statm()
}

#[derive(Debug, Clone, Copy)]
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
struct Stat {
    user_seconds: f64,
    system_seconds: f64,
    threads: u64,
}

#[cfg(target_os = "linux")]
mod sys {
    use super::Stat;

    fn page_size() -> u64 {
        // SAFETY: sysconf reads a constant of the system; no memory is passed.
        let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        u64::try_from(n).ok().filter(|n| *n > 0).unwrap_or(4096)
    }

    fn clock_ticks() -> f64 {
        // SAFETY: as above.
        let n = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        if n > 0 {
            n as f64
        } else {
            100.0
        }
    }

    /// `/proc/self/statm`: size and resident pages, as (resident, virtual) bytes.
    pub(super) fn statm() -> Option<(u64, u64)> {
        let text = std::fs::read_to_string("/proc/self/statm").ok()?;
        let mut fields = text.split_ascii_whitespace();
        let size: u64 = fields.next()?.parse().ok()?;
        let resident: u64 = fields.next()?.parse().ok()?;
        let page = page_size();
        Some((resident * page, size * page))
    }

    /// `/proc/self/stat`: utime, stime (clock ticks) and num_threads. The command name (field
    /// 2, in parentheses) may hold spaces and parentheses: the fields are counted after its
    /// last `)`.
    pub(super) fn stat() -> Option<Stat> {
        let text = std::fs::read_to_string("/proc/self/stat").ok()?;
        let after = &text[text.rfind(')')? + 1..];
        let fields: Vec<&str> = after.split_ascii_whitespace().collect();
        // Field 3 (state) is fields[0]: utime is field 14, stime 15, num_threads 20.
        let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<u64>().ok());
        let ticks = clock_ticks();
        Some(Stat {
            user_seconds: field(14)? as f64 / ticks,
            system_seconds: field(15)? as f64 / ticks,
            threads: field(20)?,
        })
    }

    /// Entries of `/proc/self/fd`, less the one the listing itself holds open.
    pub(super) fn open_fds() -> Option<u64> {
        let n = std::fs::read_dir("/proc/self/fd").ok()?.count() as u64;
        Some(n.saturating_sub(1))
    }
}

#[cfg(not(target_os = "linux"))]
mod sys {
    use super::Stat;

    pub(super) fn statm() -> Option<(u64, u64)> {
        None
    }

    pub(super) fn stat() -> Option<Stat> {
        None
    }

    pub(super) fn open_fds() -> Option<u64> {
        None
    }
}

/// The process metrics' instruments, registered on an exporting meter provider; their callbacks
/// run at each collection (the metrics interval, a flush).
pub(crate) struct ProcessInstruments {
    _memory: ObservableUpDownCounter<i64>,
    _virtual: ObservableUpDownCounter<i64>,
    _cpu: ObservableCounter<f64>,
    _fds: ObservableUpDownCounter<i64>,
    _threads: ObservableUpDownCounter<i64>,
}

fn observe_i64(observer: &dyn opentelemetry::metrics::AsyncInstrument<i64>, value: Option<u64>) {
    if let Some(v) = value.and_then(|v| i64::try_from(v).ok()) {
        observer.observe(v, &[]);
    }
}

/// Registers the process metrics on `provider`.
pub(crate) fn register(provider: &SdkMeterProvider) -> ProcessInstruments {
    let meter = provider.meter(crate::SCOPE);
    ProcessInstruments {
        _memory: meter
            .i64_observable_up_down_counter("process.memory.usage")
            .with_unit("By")
            .with_description("The amount of physical memory in use (resident set size)")
            .with_callback(|o| observe_i64(o, resident_bytes()))
            .build(),
        _virtual: meter
            .i64_observable_up_down_counter("process.memory.virtual")
            .with_unit("By")
            .with_description("The amount of committed virtual memory")
            .with_callback(|o| observe_i64(o, memory().map(|(_, v)| v)))
            .build(),
        _cpu: meter
            .f64_observable_counter("process.cpu.time")
            .with_unit("s")
            .with_description("Total CPU seconds broken down by mode (cpu.mode = user, system)")
            .with_callback(|o| {
                if let Some(s) = sys::stat() {
                    o.observe(s.user_seconds, &[KeyValue::new("cpu.mode", "user")]);
                    o.observe(s.system_seconds, &[KeyValue::new("cpu.mode", "system")]);
                }
            })
            .build(),
        _fds: meter
            .i64_observable_up_down_counter("process.open_file_descriptor.count")
            .with_unit("{file_descriptor}")
            .with_description("Number of file descriptors in use by the process")
            .with_callback(|o| observe_i64(o, sys::open_fds()))
            .build(),
        _threads: meter
            .i64_observable_up_down_counter("process.thread.count")
            .with_unit("{thread}")
            .with_description("Process threads count")
            .with_callback(|o| observe_i64(o, sys::stat().map(|s| s.threads)))
            .build(),
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn readings_follow_what_the_process_does() {
        // Other tests open and close files meanwhile: 64 more, at least 32 seen.
        let before = usage();
        let files: Vec<_> = (0..64)
            .map(|_| std::fs::File::open("/proc/self/statm").unwrap())
            .collect();
        let after = usage();
        assert!(
            after.open_file_descriptors.unwrap() >= before.open_file_descriptors.unwrap() + 32,
            "{before:?} {after:?}"
        );
        drop(files);
        assert!(after.virtual_bytes.unwrap() >= after.resident_bytes.unwrap());
        assert!(after.cpu_user_seconds.unwrap() >= 0.0);
    }
}
