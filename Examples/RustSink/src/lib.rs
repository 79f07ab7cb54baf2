//! example.rust-jsonl-sink: a complete sink plugin in Rust. Config {"path": "/abs/file.jsonl"}:
//! each row of a run becomes one JSON object on its own line, appended to that file.
//!
//! A run's rows reach the file all at once or not at all: `begin` copies the file (when it
//! exists) to a temporary file beside it, rows are appended there, and `commit` makes it
//! durable and renames it over the file. An aborted or failed run deletes the temporary file
//! and leaves the file as it was. Two runs writing the same file at once would each rename
//! its own copy, and the later would win: give each flow its own file.
use gateway_plugin::{declare_sink_plugin, BatchView, Host, Json, LogLevel, PluginError, Schema, Sink};
use std::collections::hash_map::RandomState;
use std::fs::{File, OpenOptions};
use std::hash::{BuildHasher, Hasher};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

struct JsonLines {
    path: PathBuf,
    host: Host,
    /// The run's copy being written; None outside a run and once committed.
    pending: Option<(PathBuf, BufWriter<File>)>,
    rows: u64,
}

impl JsonLines {
    /// A name beside the file no other run picks: the process, the time and a random word
    /// (no process-wide counter: the header asks plugins to keep no mutable global state).
    fn temporary_path(&self) -> PathBuf {
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0));
        let name = self.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        self.path.with_file_name(format!(".{}.{}-{:016x}.partial", name, std::process::id(), hasher.finish()))
    }

    /// Deletes the run's copy, if there is one: nothing of an uncommitted run remains.
    fn discard(&mut self) {
        if let Some((path, writer)) = self.pending.take() {
            drop(writer);
            let _ = std::fs::remove_file(path);
        }
    }
}

impl Sink for JsonLines {
    fn open(config: &Json, host: Host) -> Result<Self, PluginError> {
        let path = config.get("path").and_then(Json::as_str).filter(|p| Path::new(p).is_absolute() && !p.ends_with('/'))
            .ok_or_else(|| PluginError::invalid_config("'path' is required: the absolute path of the file to append to"))?;
        let path = PathBuf::from(path);
        match path.parent() {
            Some(dir) if dir.is_dir() => {}
            _ => return Err(PluginError::invalid_config(format!("'path': the directory of {} does not exist", path.display()))),
        }
        Ok(JsonLines { path, host, pending: None, rows: 0 })
    }

    fn begin(&mut self, _schema: &Schema) -> Result<(), PluginError> {
        self.discard();
        let temporary = self.temporary_path();
        // The rows already in the file go first: the rename at commit must not lose them.
        if self.path.exists() {
            std::fs::copy(&self.path, &temporary)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(&temporary)?;
        self.pending = Some((temporary, BufWriter::new(file)));
        self.rows = 0;
        Ok(())
    }

    fn write(&mut self, batch: &BatchView) -> Result<(), PluginError> {
        let (_, writer) = self.pending.as_mut().ok_or_else(|| PluginError::internal("rows before begin"))?;
        let mut line = String::new();
        for row in 0..batch.len() {
            line.clear();
            batch.write_row_json(row, &mut line);
            line.push('\n');
            writer.write_all(line.as_bytes())?;
        }
        self.rows += batch.len() as u64;
        Ok(())
    }

    fn commit(&mut self) -> Result<(), PluginError> {
        let (temporary, writer) = match self.pending.take() {
            Some(p) => p,
            None => return Ok(()),  // no begin, so no rows: nothing to deliver
        };
        let result = (|| -> std::io::Result<()> {
            let file = writer.into_inner().map_err(|e| e.into_error())?;
            file.sync_all()?;
            std::fs::rename(&temporary, &self.path)?;
            // The rename itself is durable once the directory is.
            if let Some(dir) = self.path.parent() {
                File::open(dir)?.sync_all()?;
            }
            Ok(())
        })();
        if let Err(e) = result {
            let _ = std::fs::remove_file(&temporary);
            return Err(PluginError::io(format!("cannot commit {}: {}", self.path.display(), e)));
        }
        self.host.log(LogLevel::Info, &format!("{} rows appended to {}", self.rows, self.path.display()));
        Ok(())
    }

    fn abort(&mut self) {
        self.discard();
    }
}

impl Drop for JsonLines {
    /// Closed without a commit (a failure before begin returned, a host giving up): the same
    /// as an abort.
    fn drop(&mut self) {
        self.discard();
    }
}

declare_sink_plugin!(JsonLines, id: "example.rust-jsonl-sink", version: "1.0.0",
    description: "Appends each row as a JSON line to a file, a run at a time (from Rust).",
    config_schema: r#"{"type":"object","required":["path"],"properties":{"path":{"type":"string","description":"absolute path of the file to append to"}}}"#,
    example_config: r#"{"path": "/tmp/gateway-rust-jsonl-sink-verify.jsonl"}"#);
