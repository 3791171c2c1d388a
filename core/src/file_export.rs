//! OTLP-JSON file export: each batch of spans is appended to a file as one
//! `ExportTraceServiceRequest` JSON object per line, the OpenTelemetry file-exporter format (the
//! Collector's `otlpjsonfile` receiver reads it back; `tasker-telemetry view FILE` draws it).
//!
//! Floats that are not finite are written as the OTLP JSON mapping (protobuf JSON) has them:
//! `{"doubleValue":"NaN"}`, `"Infinity"`, `"-Infinity"` (a plain JSON encoder would write `null`,
//! losing the value).
//!
//! Several processes may append to the same file: it is opened with `O_APPEND` and every line
//! is handed to the kernel in one `write(2)`, so lines from different processes never interleave.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::transform::common::tonic::ResourceAttributesWithSchema;
use opentelemetry_proto::transform::trace::tonic::group_spans_by_resource_and_scope;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use opentelemetry_sdk::Resource;

use crate::error::ConfigError;

/// Appends spans to an OTLP-JSON lines file.
#[derive(Debug)]
pub(crate) struct FileSpanExporter {
    path: PathBuf,
    file: File,
    resource: ResourceAttributesWithSchema,
    stopped: AtomicBool,
}

impl FileSpanExporter {
    /// Opens (creating) `path` for appending.
    pub(crate) fn open(path: &Path) -> Result<Self, ConfigError> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|source| ConfigError::File {
                path: path.to_owned(),
                source,
            })?;
        Ok(Self {
            path: path.to_owned(),
            file,
            resource: ResourceAttributesWithSchema::from(&Resource::builder_empty().build()),
            stopped: AtomicBool::new(false),
        })
    }

    fn write_batch(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        if self.stopped.load(Ordering::Acquire) {
            return Err(OTelSdkError::AlreadyShutdown);
        }
        if batch.is_empty() {
            return Ok(());
        }
        let mut request = ExportTraceServiceRequest {
            resource_spans: group_spans_by_resource_and_scope(batch, &self.resource),
        };
        let mut line = encode(&mut request)
            .map_err(|e| OTelSdkError::InternalFailure(format!("OTLP-JSON encoding: {e}")))?;
        line.push(b'\n');
        // `&File` implements Write; O_APPEND makes the one write land at the end atomically.
        (&self.file).write_all(&line).map_err(|e| {
            OTelSdkError::InternalFailure(format!("writing {}: {e}", self.path.display()))
        })
    }
}

/// `request` as one line of OTLP JSON, non-finite doubles spelled `"NaN"`, `"Infinity"`,
/// `"-Infinity"`.
///
/// The generated types serialize an attribute's `f64` as a JSON number, which serde_json writes
/// as `null` when it is not finite. So such values are first swapped for string values holding
/// a marker no attribute holds (a control character and a per-process nonce), and the marker's
/// encoding is then replaced by the right `doubleValue` in the text. Requests without such a
/// value (nearly all) are encoded directly.
fn encode(request: &mut ExportTraceServiceRequest) -> serde_json::Result<Vec<u8>> {
    let mut swapped = 0usize;
    for rs in &mut request.resource_spans {
        if let Some(r) = &mut rs.resource {
            swapped += swap_non_finite(&mut r.attributes);
        }
        for ss in &mut rs.scope_spans {
            if let Some(scope) = &mut ss.scope {
                swapped += swap_non_finite(&mut scope.attributes);
            }
            for span in &mut ss.spans {
                swapped += swap_non_finite(&mut span.attributes);
                for event in &mut span.events {
                    swapped += swap_non_finite(&mut event.attributes);
                }
                for link in &mut span.links {
                    swapped += swap_non_finite(&mut link.attributes);
                }
            }
        }
    }
    let line = serde_json::to_vec(request)?;
    if swapped == 0 {
        return Ok(line);
    }
    let mut text = String::from_utf8_lossy(&line).into_owned();
    for name in ["NaN", "Infinity", "-Infinity"] {
        let encoded = serde_json::to_string(&AnyValue {
            value: Some(any_value::Value::StringValue(marker(name))),
        })?;
        text = text.replace(&encoded, &format!(r#"{{"doubleValue":"{name}"}}"#));
    }
    Ok(text.into_bytes())
}

/// The string a non-finite double named `name` stands in for during encoding.
fn marker(name: &str) -> String {
    static NONCE: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let nonce = NONCE.get_or_init(|| {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u32(std::process::id());
        h.finish()
    });
    format!("\u{1}tasker-telemetry-non-finite-{nonce:016x}:{name}")
}

/// Replaces the non-finite doubles in `attributes` (nested lists and maps too) by their marker;
/// returns how many.
fn swap_non_finite(attributes: &mut [KeyValue]) -> usize {
    attributes
        .iter_mut()
        .filter_map(|kv| kv.value.as_mut())
        .map(swap_value)
        .sum()
}

fn swap_value(value: &mut AnyValue) -> usize {
    match &mut value.value {
        Some(any_value::Value::DoubleValue(f)) if !f.is_finite() => {
            let name = crate::fields::non_finite_name(*f);
            value.value = Some(any_value::Value::StringValue(marker(name)));
            1
        }
        Some(any_value::Value::ArrayValue(list)) => list.values.iter_mut().map(swap_value).sum(),
        Some(any_value::Value::KvlistValue(map)) => swap_non_finite(&mut map.values),
        _ => 0,
    }
}

impl SpanExporter for FileSpanExporter {
    fn export(
        &self,
        batch: Vec<SpanData>,
    ) -> impl std::future::Future<Output = OTelSdkResult> + Send {
        std::future::ready(self.write_batch(batch))
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        self.stopped.store(true, Ordering::Release);
        Ok(())
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.resource = ResourceAttributesWithSchema::from(resource);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::{ArrayValue, KeyValueList};
    use opentelemetry_proto::tonic::trace::v1::{span::Event, ResourceSpans, ScopeSpans, Span};

    fn double(f: f64) -> Option<AnyValue> {
        Some(AnyValue {
            value: Some(any_value::Value::DoubleValue(f)),
        })
    }

    fn kv(key: &str, value: Option<AnyValue>) -> KeyValue {
        KeyValue {
            key: key.into(),
            value,
            ..Default::default()
        }
    }

    #[test]
    fn non_finite_doubles_are_written_as_otlp_json_spells_them() {
        let nested = Some(AnyValue {
            value: Some(any_value::Value::ArrayValue(ArrayValue {
                values: vec![double(f64::NEG_INFINITY).unwrap_or_default()],
            })),
        });
        let map = Some(AnyValue {
            value: Some(any_value::Value::KvlistValue(KeyValueList {
                values: vec![kv("inner", double(f64::NAN))],
            })),
        });
        let mut request = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans: vec![Span {
                        name: "s".into(),
                        attributes: vec![
                            kv("nan", double(f64::NAN)),
                            kv("inf", double(f64::INFINITY)),
                            kv("finite", double(1.5)),
                            kv("list", nested),
                            kv("map", map),
                        ],
                        events: vec![Event {
                            name: "e".into(),
                            attributes: vec![kv("ninf", double(f64::NEG_INFINITY))],
                            ..Default::default()
                        }],
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        let text = String::from_utf8(encode(&mut request).unwrap()).unwrap();
        assert!(!text.contains(r#""doubleValue":null"#), "{text}");
        assert!(!text.contains("non-finite"), "{text}");
        for expected in [
            r#"{"key":"nan","value":{"doubleValue":"NaN"}}"#,
            r#"{"key":"inf","value":{"doubleValue":"Infinity"}}"#,
            r#"{"key":"finite","value":{"doubleValue":1.5}}"#,
            r#"{"values":[{"doubleValue":"-Infinity"}]}"#,
            r#"{"key":"inner","value":{"doubleValue":"NaN"}}"#,
            r#"{"key":"ninf","value":{"doubleValue":"-Infinity"}}"#,
        ] {
            assert!(text.contains(expected), "{expected} not in {text}");
        }
        // And the viewer reads it back.
        let spans = crate::view::read_spans(text.as_bytes()).unwrap();
        assert_eq!(spans[0].attributes["inf"], "Infinity");
        assert_eq!(spans[0].attributes["nan"], "NaN");
    }
}
