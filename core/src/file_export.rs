//! OTLP-JSON file export: each batch of spans is appended to a file as one
//! `ExportTraceServiceRequest` JSON object per line, the OpenTelemetry file-exporter format (the
//! Collector's `otlpjsonfile` receiver reads it back; `tasker-telemetry view FILE` draws it).
//!
//! Several processes may append to the same file: it is opened with `O_APPEND` and every line
//! is handed to the kernel in one `write(2)`, so lines from different processes never interleave.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
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
        let request = ExportTraceServiceRequest {
            resource_spans: group_spans_by_resource_and_scope(batch, &self.resource),
        };
        let mut line = serde_json::to_vec(&request)
            .map_err(|e| OTelSdkError::InternalFailure(format!("OTLP-JSON encoding: {e}")))?;
        line.push(b'\n');
        // `&File` implements Write; O_APPEND makes the one write land at the end atomically.
        (&self.file).write_all(&line).map_err(|e| {
            OTelSdkError::InternalFailure(format!("writing {}: {e}", self.path.display()))
        })
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
