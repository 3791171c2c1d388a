//! A console writer that keeps what it is given, and the JSON lines written so far; and the
//! environment cleared of the variables a reload would read.

#![allow(dead_code)]

use std::io::Write;
use std::sync::{Arc, Mutex};

/// Keeps every byte written; clone it into `ConsoleWriter::Custom`.
#[derive(Clone, Default)]
pub struct Sink(pub Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Sink {
    /// The JSON lines written since the last call.
    pub fn take(&self) -> Vec<serde_json::Value> {
        let bytes = std::mem::take(&mut *self.0.lock().unwrap());
        String::from_utf8_lossy(&bytes)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

/// A reload reads the process environment: variables a developer may have set would win over
/// the file.
pub fn clear_env() {
    for (name, _) in std::env::vars() {
        if name == "RUST_LOG"
            || name == "TASKER_ENV"
            || name.starts_with("TASKER_LOG")
            || name.starts_with("TASKER_EVENTS")
            || name.starts_with("TASKER_EXPORT")
            || name == "TASKER_RELOAD_ON_SIGHUP"
        {
            std::env::remove_var(name);
        }
    }
}
