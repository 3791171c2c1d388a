//! A worker process (Ruby or Python) and the JSON-lines protocol spoken with it.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

const REPLY_TIMEOUT: Duration = Duration::from_secs(60);

/// A worker process and the replies it sends, matched to requests by id.
pub struct Worker {
    service: &'static str,
    child: Mutex<Child>,
    stdin: Mutex<ChildStdin>,
    pending: Arc<Mutex<HashMap<u64, Sender<Value>>>>,
    next_id: Mutex<u64>,
}

impl Worker {
    pub fn start(service: &'static str, mut command: Command) -> Result<Worker, String> {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .env("OTEL_SERVICE_NAME", service)
            .spawn()
            .map_err(|e| format!("cannot start the {service} ({command:?}): {e}"))?;
        let stdin = child.stdin.take().ok_or("worker stdin")?;
        let stdout = child.stdout.take().ok_or("worker stdout")?;
        let pending: Arc<Mutex<HashMap<u64, Sender<Value>>>> = Arc::default();
        let replies = pending.clone();
        std::thread::Builder::new()
            .name(format!("{service}-replies"))
            .spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    let Ok(reply) = serde_json::from_str::<Value>(&line) else {
                        eprintln!("[{service}] not a reply: {line}");
                        continue;
                    };
                    let id = reply.get("id").and_then(Value::as_u64).unwrap_or(0);
                    let waiter = replies
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .remove(&id);
                    if let Some(tx) = waiter {
                        let _ = tx.send(reply);
                    }
                }
                // The worker is gone: every waiting call fails now instead of timing out.
                let mut pending = replies.lock().unwrap_or_else(|e| e.into_inner());
                pending.clear();
                pending.insert(u64::MAX, mpsc::channel().0); // marks the worker closed
            })
            .map_err(|e| format!("reader thread: {e}"))?;
        let worker = Worker {
            service,
            child: Mutex::new(child),
            stdin: Mutex::new(stdin),
            pending,
            next_id: Mutex::new(1),
        };
        // Wait until it has loaded its packages, so interpreter start-up is not in the trace.
        worker.call(json!({"type": "ping"}))?;
        Ok(worker)
    }

    /// Sends `message` (an `id` is added) and waits for the reply with that id.
    pub fn call(&self, mut message: Value) -> Result<Value, String> {
        let id = {
            let mut next = self.next_id.lock().unwrap_or_else(|e| e.into_inner());
            *next += 1;
            *next
        };
        message["id"] = json!(id);
        let (tx, rx): (Sender<Value>, Receiver<Value>) = mpsc::channel();
        {
            let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            if pending.contains_key(&u64::MAX) {
                return Err(self.exited());
            }
            pending.insert(id, tx);
        }
        {
            let mut stdin = self.stdin.lock().unwrap_or_else(|e| e.into_inner());
            writeln!(stdin, "{message}")
                .and_then(|()| stdin.flush())
                .map_err(|e| format!("{} is gone (write: {e})", self.service))?;
        }
        rx.recv_timeout(REPLY_TIMEOUT).map_err(|e| match e {
            mpsc::RecvTimeoutError::Timeout => {
                format!("{} did not answer within {REPLY_TIMEOUT:?}", self.service)
            }
            mpsc::RecvTimeoutError::Disconnected => self.exited(),
        })
    }

    fn exited(&self) -> String {
        let status = self
            .child
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .wait()
            .map(|s| s.to_string())
            .unwrap_or_else(|e| e.to_string());
        format!(
            "the {} exited ({status}) before answering; its error is printed above",
            self.service
        )
    }

    /// Asks the worker to flush and exit; returns the span count it reports.
    pub fn stop(&self) -> Result<Value, String> {
        let reply = self.call(json!({"type": "shutdown"}))?;
        let status = self
            .child
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .wait()
            .map_err(|e| format!("{}: {e}", self.service))?;
        if !status.success() {
            return Err(format!("{} exited with {status}", self.service));
        }
        Ok(reply)
    }
}

/// The command that starts a worker script: export settings come from the environment, and the
/// gem and the package start export from it when they are loaded.
pub fn worker_command(interpreter: &str, script: &Path, file: Option<&Path>) -> Command {
    let mut c = Command::new(interpreter);
    c.arg(script);
    if let Some(file) = file {
        c.env("TASKER_OTLP_FILE", file);
    }
    c
}
