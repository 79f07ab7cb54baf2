//! example.rust-squares: a complete source plugin in Rust. Config {"count": N, "batch_size": B};
//! a read gives the numbers 1..=N, their squares, and a label (null for every third row),
//! in batches of B rows, stopping at the request's row_limit and when the host cancels.
use gateway_plugin::{declare_source_plugin, BatchBuilder, Batches, ColumnType, Field, Host, Json, PluginError, Source};

struct Squares {
    count: i64,
    batch_size: i64,
    host: Host,
}

impl Source for Squares {
    fn open(config: &Json, host: Host) -> Result<Self, PluginError> {
        let count = config.get("count").and_then(Json::as_i64)
            .filter(|n| (0..=100_000_000).contains(n))
            .ok_or_else(|| PluginError::invalid_config("'count' must be a whole number from 0 to 100000000"))?;
        let batch_size = match config.get("batch_size") {
            None => 10_000,
            Some(v) => v.as_i64().filter(|n| (1..=1_000_000).contains(n))
                .ok_or_else(|| PluginError::invalid_config("'batch_size' must be 1 to 1000000"))?,
        };
        Ok(Squares { count, batch_size, host })
    }

    fn read(&mut self, request: &Json) -> Result<Box<dyn Batches>, PluginError> {
        let limit = request.get("row_limit").and_then(Json::as_i64).unwrap_or(i64::MAX);
        Ok(Box::new(Rows { next: 1, last: self.count.min(limit), batch_size: self.batch_size, host: self.host }))
    }
}

struct Rows {
    next: i64,
    last: i64,
    batch_size: i64,
    host: Host,
}

impl Batches for Rows {
    fn fields(&self) -> Vec<Field> {
        vec![Field::new("n", ColumnType::Int64), Field::new("square", ColumnType::Int64), Field::new("label", ColumnType::Utf8)]
    }

    fn next(&mut self) -> Result<Option<BatchBuilder>, PluginError> {
        if self.host.is_cancelled() { return Err(PluginError::cancelled()); }
        if self.next > self.last { return Ok(None); }
        let mut batch = BatchBuilder::new(&self.fields());
        while self.next <= self.last && (batch.len() as i64) < self.batch_size {
            let n = self.next;
            batch.push_i64(0, Some(n));
            batch.push_i64(1, n.checked_mul(n));
            let label = format!("row {n}");
            batch.push_str(2, if n % 3 == 0 { None } else { Some(&label) })?;
            batch.end_row();
            self.next += 1;
        }
        self.host.progress(self.next - 1, self.last);
        Ok(Some(batch))
    }
}

declare_source_plugin!(Squares, id: "example.rust-squares", version: "1.0.0",
    description: "The numbers 1..=count with their squares, from Rust.",
    config_schema: r#"{"type":"object","required":["count"],"properties":{"count":{"type":"integer","minimum":0},"batch_size":{"type":"integer","minimum":1}}}"#,
    example_config: r#"{"count": 25, "batch_size": 10}"#);
