//! example.rust-ndjson: a complete format plugin in Rust. `format=ndjson-rust` on a query
//! answers with one JSON object a row, each on its own line (media type
//! application/x-ndjson): keys in the columns' order, nulls as null, dates and timestamps
//! as quoted text, decimals as exact numbers, binary as arrays of bytes.
//!
//! Each batch is serialized into one buffer and handed to the host at once, so a response
//! of any size streams in the memory of one batch. An empty result is an empty body.
use gateway_plugin::{declare_format_plugin, BatchView, Format, Host, Json, Output, PluginError, Schema};

struct Ndjson {
    out: Output,
    host: Host,
    line: String,
}

impl Format for Ndjson {
    const NAME: &'static str = "ndjson-rust";
    const MEDIA_TYPE: &'static str = "application/x-ndjson";

    fn open(_config: &Json, host: Host, out: Output) -> Result<Self, PluginError> {
        Ok(Ndjson { out, host, line: String::new() })
    }

    fn begin(&mut self, _schema: &Schema) -> Result<(), PluginError> {
        Ok(())  // NDJSON has no header
    }

    fn write(&mut self, batch: &BatchView) -> Result<(), PluginError> {
        // A client that left makes the host cancel us: stop serializing for nobody.
        if self.host.is_cancelled() {
            return Err(PluginError::cancelled());
        }
        self.line.clear();
        for row in 0..batch.len() {
            batch.write_row_json(row, &mut self.line);
            self.line.push('\n');
        }
        self.out.write(self.line.as_bytes())
    }

    fn finish(&mut self) -> Result<(), PluginError> {
        Ok(())  // nor a footer
    }

    // write_error: NDJSON has no place to say why the data stops that a reader would not take
    // for one more row, so the default (write nothing) stands; the host cuts the response.
}

declare_format_plugin!(Ndjson, id: "example.rust-ndjson", version: "1.0.0",
    description: "Query rows as NDJSON (format=ndjson-rust), from Rust.",
    config_schema: r#"{"type":"object","properties":{}}"#,
    example_config: "{}");
