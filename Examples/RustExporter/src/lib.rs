//! example.rust-tsv: a complete exporter plugin in Rust. An export with `ext_type` TSV-RUST
//! writes `<title>.tsv`: a header line of the column names, then one line a row, values as
//! text (dates YYYY-MM-DD, timestamps ISO 8601, decimals exact, binary as hex), a null as an
//! empty field. A tab, a newline, a carriage return or a backslash inside a value is written
//! \t, \n, \r or \\, so every line is one row and every row has every field.
use gateway_plugin::{declare_exporter_plugin, BatchView, Exporter, Host, Json, PluginError, Schema};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

struct Tsv {
    path: PathBuf,
    host: Host,
    file: Option<BufWriter<File>>,
    value: String,
    line: String,
}

fn escape(value: &str, out: &mut String) {
    for c in value.chars() {
        match c {
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
}

impl Exporter for Tsv {
    const NAME: &'static str = "TSV-RUST";
    const FILE_EXTENSION: &'static str = "tsv";

    fn open(_config: &Json, host: Host, output_dir: &Path, base_name: &str) -> Result<Self, PluginError> {
        Ok(Tsv { path: output_dir.join(format!("{}.tsv", base_name)), host, file: None, value: String::new(), line: String::new() })
    }

    fn begin(&mut self, schema: &Schema) -> Result<(), PluginError> {
        let mut file = BufWriter::new(File::create(&self.path)?);
        self.line.clear();
        for (i, field) in schema.fields.iter().enumerate() {
            if i > 0 { self.line.push('\t'); }
            escape(&field.name, &mut self.line);
        }
        self.line.push('\n');
        file.write_all(self.line.as_bytes())?;
        self.file = Some(file);
        Ok(())
    }

    fn write(&mut self, batch: &BatchView) -> Result<(), PluginError> {
        if self.host.is_cancelled() {
            return Err(PluginError::cancelled());
        }
        let file = self.file.as_mut().ok_or_else(|| PluginError::internal("rows before begin"))?;
        for row in 0..batch.len() {
            self.line.clear();
            for (i, column) in batch.columns().iter().enumerate() {
                if i > 0 { self.line.push('\t'); }
                self.value.clear();
                column.write_text(row, &mut self.value);
                escape(&self.value, &mut self.line);
            }
            self.line.push('\n');
            file.write_all(self.line.as_bytes())?;
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), PluginError> {
        // An empty stream still gets its file (with only the header) when begin ran.
        if let Some(file) = self.file.take() {
            file.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        }
        Ok(())
    }
}

declare_exporter_plugin!(Tsv, id: "example.rust-tsv", version: "1.0.0",
    description: "Exports rows as a tab-separated .tsv file (ext_type TSV-RUST), from Rust.",
    config_schema: r#"{"type":"object","properties":{}}"#,
    example_config: "{}");
