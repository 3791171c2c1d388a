//! The OpenTelemetry resource: what every span, metric and log says about the process that sent
//! it, detected the way the official SDKs do, with the configuration on top.
//!
//! Detected (lowest precedence): `host.name`, `process.pid`, `process.executable.name`,
//! `process.runtime.name`/`process.runtime.version` (the binding in use tells the core with
//! [`set_runtime`]; Rust alone says `rust`), `telemetry.sdk.name`/`version`/`language` (the
//! language of the binding in use), `telemetry.distro.name`/`version` (`tasker-telemetry`) and
//! `service.instance.id`, a UUID new in each process and each fork child
//! ([`service_instance_id`]). Then `telemetry.resource_attributes` (`OTEL_RESOURCE_ATTRIBUTES`)
//! over them, then `deployment.environment.name` from `TASKER_ENV` when the attributes do not
//! name one, then `service.version` and `service.name` (see
//! [`TelemetryConfig::resolved_service_name`]).

use std::sync::RwLock;

use opentelemetry::{Key, KeyValue};
use opentelemetry_sdk::resource::{ResourceDetector, TelemetryResourceDetector};
use opentelemetry_sdk::Resource;

use crate::config::TelemetryConfig;

/// The language runtime the core runs in, as the binding in use declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Runtime {
    language: String,
    name: String,
    version: Option<String>,
}

static RUNTIME: RwLock<Option<Runtime>> = RwLock::new(None);

/// Declares the language runtime the core runs in, for the resource's `telemetry.sdk.language`,
/// `process.runtime.name` and `process.runtime.version`. A binding calls it when it is loaded,
/// before start-up (Ruby: `("ruby", RUBY_ENGINE, RUBY_VERSION)`; Python: `("python",
/// sys.implementation.name, platform.python_version())`). Without it the core says `rust`. An
/// empty `runtime_version` is left out of the resource.
///
/// ```
/// tasker_telemetry::resource::set_runtime("python", "cpython", "3.11.2");
/// assert_eq!(tasker_telemetry::resource::language(), "python");
/// ```
pub fn set_runtime(language: &str, runtime_name: &str, runtime_version: &str) {
    let runtime = Runtime {
        language: language.trim().to_ascii_lowercase(),
        name: runtime_name.trim().to_owned(),
        version: Some(runtime_version.trim().to_owned()).filter(|v| !v.is_empty()),
    };
    *RUNTIME.write().unwrap_or_else(|e| e.into_inner()) = Some(runtime);
}

fn runtime() -> Runtime {
    RUNTIME
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
        .unwrap_or_else(|| Runtime {
            language: "rust".to_owned(),
            name: "rust".to_owned(),
            version: None,
        })
}

/// The `telemetry.sdk.language` of this process: the binding's language, else `rust`.
pub fn language() -> String {
    runtime().language
}

/// The `service.instance.id` of this process (and process id), generated on first use. Lock-free
/// (a lock held by another thread at a fork would stay held in the child forever).
static INSTANCE: std::sync::OnceLock<arc_swap::ArcSwapOption<(u32, String)>> =
    std::sync::OnceLock::new();

fn instance() -> &'static arc_swap::ArcSwapOption<(u32, String)> {
    INSTANCE.get_or_init(arc_swap::ArcSwapOption::empty)
}

/// `service.instance.id`: a random UUID, the same for the whole life of a process and new in
/// each process, fork children included (the id is tied to the process id, and
/// [`crate::pipeline::after_fork_in_child`] renews it).
pub fn service_instance_id() -> String {
    let pid = std::process::id();
    if let Some(current) = instance().load_full() {
        if current.0 == pid {
            return current.1.clone();
        }
    }
    let fresh = std::sync::Arc::new((pid, uuid::Uuid::now_v7().to_string()));
    // Two threads racing here agree on whichever id was stored first.
    let previous = instance().compare_and_swap(&None::<std::sync::Arc<_>>, Some(fresh.clone()));
    match &*previous {
        Some(current) if current.0 == pid => current.1.clone(),
        Some(_) => {
            instance().store(Some(fresh.clone()));
            fresh.1.clone()
        }
        None => fresh.1.clone(),
    }
}

/// Gives this process a new `service.instance.id` (a fork child calls it before it rebuilds
/// its exporters; the process-id check of [`service_instance_id`] would renew it anyway).
pub(crate) fn renew_instance_id() {
    instance().store(None);
}

/// `process.executable.name`: the file name of the running executable (`ruby`, `python3.11`,
/// `orchestrator`), `None` when the system does not say.
pub fn executable_name() -> Option<String> {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .or_else(|| {
            std::env::args_os().next().and_then(|a| {
                std::path::Path::new(&a)
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
            })
        })
        .filter(|n| !n.is_empty())
}

/// The service name when none is configured, as the OpenTelemetry specification says:
/// `unknown_service:<process.executable.name>` (`unknown_service` when the name is unknown).
pub fn default_service_name() -> String {
    match executable_name() {
        Some(exe) => format!("unknown_service:{exe}"),
        None => "unknown_service".to_owned(),
    }
}

/// `host.name`: the kernel's host name (Linux), else `/etc/hostname`, else `HOSTNAME`.
fn host_name() -> Option<String> {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
}

/// The attributes detected from the process and the runtime (see the module docs).
fn detected() -> Vec<KeyValue> {
    let runtime = runtime();
    // `telemetry.sdk.name` and `version` as the OpenTelemetry Rust SDK, which records the spans,
    // says them; the language is the binding's.
    let sdk = TelemetryResourceDetector.detect();
    let mut attrs: Vec<KeyValue> = [
        Key::from_static_str("telemetry.sdk.name"),
        Key::from_static_str("telemetry.sdk.version"),
    ]
    .into_iter()
    .filter_map(|k| sdk.get(&k).map(|v| KeyValue::new(k, v)))
    .collect();
    attrs.extend([
        KeyValue::new("telemetry.sdk.language", runtime.language),
        KeyValue::new("telemetry.distro.name", "tasker-telemetry"),
        KeyValue::new("telemetry.distro.version", env!("CARGO_PKG_VERSION")),
        KeyValue::new("service.instance.id", service_instance_id()),
        KeyValue::new("process.pid", i64::from(std::process::id())),
        KeyValue::new("process.runtime.name", runtime.name),
    ]);
    if let Some(v) = runtime.version {
        attrs.push(KeyValue::new("process.runtime.version", v));
    }
    if let Some(exe) = executable_name() {
        attrs.push(KeyValue::new("process.executable.name", exe));
    }
    if let Some(host) = host_name() {
        attrs.push(KeyValue::new("host.name", host));
    }
    attrs
}

/// The resource of a configuration: detected attributes, then the configured ones over them
/// (see the module docs). Built anew for each provider, so a fork child's rebuilt exporters
/// carry the child's `process.pid` and `service.instance.id`.
pub(crate) fn build(config: &TelemetryConfig) -> Resource {
    let mut attrs = detected();
    for (k, v) in &config.resource_attributes {
        attrs.push(KeyValue::new(k.clone(), v.clone()));
    }
    if let Some(e) = &config.environment {
        if !config
            .resource_attributes
            .contains_key("deployment.environment.name")
        {
            attrs.push(KeyValue::new("deployment.environment.name", e.clone()));
        }
    }
    if let Some(v) = &config.service_version {
        attrs.push(KeyValue::new("service.version", v.clone()));
    }
    // Not the SDK's default detectors: they read `OTEL_*` from the process environment behind
    // the configuration's back (and would let `OTEL_RESOURCE_ATTRIBUTES` name the service).
    Resource::builder_empty()
        .with_attributes(attrs)
        .with_service_name(config.resolved_service_name())
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_instance_id_is_stable_in_a_process_and_renewed_on_request() {
        let id = service_instance_id();
        assert_eq!(id, service_instance_id());
        assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id}");
        renew_instance_id();
        assert_ne!(id, service_instance_id());
    }

    fn attr(resource: &Resource, key: &'static str) -> Option<String> {
        resource
            .get(&Key::from_static_str(key))
            .map(|v| v.as_str().into_owned())
    }

    #[test]
    fn the_resource_has_the_detected_attributes_under_the_configured_ones() {
        set_runtime("python", "cpython", "3.11.2");
        let mut config = TelemetryConfig::default();
        config.resource_attributes.extend([
            ("service.name".to_owned(), "from-attributes".to_owned()),
            ("host.name".to_owned(), "configured-host".to_owned()),
            ("service.version".to_owned(), "attr-version".to_owned()),
        ]);
        config.environment = Some("staging".to_owned());
        let r = build(&config);
        assert_eq!(attr(&r, "service.name").as_deref(), Some("from-attributes"));
        assert_eq!(attr(&r, "host.name").as_deref(), Some("configured-host"));
        assert_eq!(attr(&r, "service.version").as_deref(), Some("attr-version"));
        assert_eq!(
            attr(&r, "telemetry.sdk.language").as_deref(),
            Some("python")
        );
        assert_eq!(
            attr(&r, "telemetry.sdk.name").as_deref(),
            Some("opentelemetry")
        );
        assert!(attr(&r, "telemetry.sdk.version").is_some());
        assert_eq!(
            attr(&r, "telemetry.distro.name").as_deref(),
            Some("tasker-telemetry")
        );
        assert_eq!(attr(&r, "process.runtime.name").as_deref(), Some("cpython"));
        assert_eq!(
            attr(&r, "process.runtime.version").as_deref(),
            Some("3.11.2")
        );
        assert_eq!(
            attr(&r, "process.pid"),
            Some(std::process::id().to_string())
        );
        assert_eq!(attr(&r, "process.executable.name"), executable_name());
        assert_eq!(
            attr(&r, "deployment.environment.name").as_deref(),
            Some("staging")
        );
        assert_eq!(attr(&r, "service.instance.id"), Some(service_instance_id()));

        config.service_name = Some("explicit".to_owned());
        config.service_version = Some("1.0".to_owned());
        let r = build(&config);
        assert_eq!(attr(&r, "service.name").as_deref(), Some("explicit"));
        assert_eq!(attr(&r, "service.version").as_deref(), Some("1.0"));

        let r = build(&TelemetryConfig::default());
        assert_eq!(attr(&r, "service.name"), Some(default_service_name()));
        assert!(attr(&r, "host.name").is_some());
    }

    #[test]
    fn the_default_service_name_follows_the_spec() {
        let name = default_service_name();
        assert!(name.starts_with("unknown_service:"), "{name}");
        assert!(name.ends_with(&executable_name().unwrap()), "{name}");
    }
}
