//! Reloading the configuration file on `SIGHUP` ([`crate::runtime::reload`]).
//!
//! Installed by `init` when the configuration came from a file, `telemetry.reload_on_sighup` is
//! on (the default) and the signal is unclaimed: its disposition is still `SIG_DFL`. A host that
//! handles `SIGHUP` itself (Puma, Unicorn and gunicorn reload or restart workers on it; `nohup`
//! ignores it; the Ruby VM traps it to raise `SignalException`) is left alone: such a host can
//! call `reload` from its own handler.
//!
//! The signal handler only writes a byte to a socket pair (async-signal-safe); a thread of the
//! core (`tasker-telemetry-sighup`) reads it and reloads. In a fork child, where that thread does
//! not exist, [`crate::after_fork_in_child`] registers a fresh socket pair and starts the thread again
//! (the parent's pair is let go, so a `SIGHUP` to one process never reloads the other).

use std::io::Read as _;
use std::os::unix::net::UnixStream;
use std::sync::Mutex;

use crate::config::TelemetryConfig;

/// The handler registration, while installed.
static INSTALLED: Mutex<Option<signal_hook::SigId>> = Mutex::new(None);

/// Whether `SIGHUP`'s disposition is the default one (nobody claimed it).
fn unclaimed() -> bool {
    // SAFETY: sigaction with a null new action only reads the current disposition into `old`,
    // a zeroed, properly aligned sigaction owned by this frame.
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        if libc::sigaction(libc::SIGHUP, std::ptr::null(), &mut old) != 0 {
            return false;
        }
        old.sa_sigaction == libc::SIG_DFL
    }
}

/// Whether the core's `SIGHUP` handler is installed in this process.
pub fn is_installed() -> bool {
    INSTALLED.lock().map(|i| i.is_some()).unwrap_or(false)
}

/// At `init`: installs the handler if `config` asks for it and the signal is unclaimed.
pub(crate) fn install_if_wanted(config: &TelemetryConfig) {
    if !config.reload_on_sighup || config.config_file.is_none() {
        return;
    }
    let mut installed = INSTALLED.lock().unwrap_or_else(|e| e.into_inner());
    if installed.is_some() {
        return;
    }
    if !unclaimed() {
        tracing::debug!(
            target: crate::runtime::TARGET,
            "SIGHUP has a handler already (the host's): configuration reload on SIGHUP not installed; the host may call reload itself"
        );
        return;
    }
    match start() {
        Ok(id) => *installed = Some(id),
        Err(e) => tracing::warn!(
            target: crate::runtime::TARGET,
            "configuration reload on SIGHUP not installed: {e}"
        ),
    }
}

fn start() -> std::io::Result<signal_hook::SigId> {
    let (mut read, write) = UnixStream::pair()?;
    let id = signal_hook::low_level::pipe::register(libc::SIGHUP, write)?;
    let spawned = std::thread::Builder::new()
        .name("tasker-telemetry-sighup".to_owned())
        .spawn(move || {
            let mut buf = [0u8; 64];
            loop {
                match read.read(&mut buf) {
                    // Several signals before the read: one reload.
                    Ok(n) if n > 0 => on_signal(),
                    Ok(_) => return,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(_) => return,
                }
            }
        });
    if let Err(e) = spawned {
        signal_hook::low_level::unregister(id);
        return Err(e);
    }
    Ok(id)
}

fn on_signal() {
    let on = crate::pipeline::current_config().is_some_and(|c| c.reload_on_sighup);
    if !on {
        tracing::info!(
            target: crate::runtime::TARGET,
            "SIGHUP received; telemetry.reload_on_sighup is off: configuration not reloaded"
        );
        return;
    }
    // `reload` logs what changed or why nothing did.
    let _ = crate::runtime::reload();
}

/// In a fork child: a fresh socket pair and reader thread, if the parent had them.
pub(crate) fn after_fork_in_child() {
    let Ok(mut installed) = INSTALLED.try_lock() else {
        return;
    };
    let Some(old) = installed.take() else {
        return;
    };
    // Closes the child's copy of the parent's write end.
    signal_hook::low_level::unregister(old);
    match start() {
        Ok(id) => *installed = Some(id),
        Err(e) => tracing::warn!(
            target: crate::runtime::TARGET,
            "configuration reload on SIGHUP not installed in this fork child: {e}"
        ),
    }
}
