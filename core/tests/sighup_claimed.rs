//! A host that handles `SIGHUP` itself (as Puma, Unicorn and gunicorn do) keeps its handler:
//! `init` with a configuration file does not install the core's. One process, so one file.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tasker_telemetry::TelemetryConfig;

#[path = "common/sink.rs"]
mod sink;
use sink::clear_env;

static HOST_SAW_IT: AtomicBool = AtomicBool::new(false);

extern "C" fn host_handler(_: libc::c_int) {
    HOST_SAW_IT.store(true, Ordering::SeqCst);
}

#[test]
fn a_host_claimed_sighup_is_left_alone() {
    clear_env();
    // SAFETY: installs an async-signal-safe handler (one atomic store).
    let previous = unsafe {
        libc::signal(
            libc::SIGHUP,
            host_handler as extern "C" fn(libc::c_int) as libc::sighandler_t,
        )
    };
    assert_eq!(previous, libc::SIG_DFL);

    let dir = std::env::temp_dir().join(format!("tasker-sighup-claimed-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("telemetry.toml");
    std::fs::write(&file, "[telemetry.logging]\nlevel = \"info\"\n").unwrap();
    let config = TelemetryConfig::load_from(
        Some(&file),
        &std::collections::BTreeMap::<String, String>::new(),
    )
    .unwrap();
    assert!(config.reload_on_sighup);
    let _guard = tasker_telemetry::init(config).unwrap();
    assert!(!tasker_telemetry::sighup::is_installed());

    std::fs::write(&file, "[telemetry.logging]\nlevel = \"warn\"\n").unwrap();
    // SAFETY: the handler installed above is still the one in force.
    assert_eq!(unsafe { libc::raise(libc::SIGHUP) }, 0);
    std::thread::sleep(Duration::from_millis(200));
    assert!(HOST_SAW_IT.load(Ordering::SeqCst), "the host's handler ran");
    let config = tasker_telemetry::pipeline::current_config().unwrap();
    assert_eq!(
        config.logging.level, "info",
        "no reload behind the host's back"
    );

    // The host may reload from its own handler's code.
    assert_eq!(
        tasker_telemetry::runtime::reload().unwrap(),
        ["telemetry.logging.level: info → warn"]
    );
}
