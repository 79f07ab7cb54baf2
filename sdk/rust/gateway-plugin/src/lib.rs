//! Write gateway plugins in Rust (ABI 1.3), std only.
//!
//! A plugin is a type implementing [`Source`], [`Sink`], [`Format`] or [`Exporter`] plus one
//! line:
//!
//! ```ignore
//! gateway_plugin::declare_source_plugin!(MySource, id: "acme.orders", version: "1.0.0",
//!     description: "Orders from Acme.", config_schema: r#"{"type":"object"}"#, example_config: "{}");
//! ```
//!
//! (`declare_sink_plugin!`, `declare_format_plugin!` and `declare_exporter_plugin!` alike;
//! `declare_plugin!` declares one image of several kinds.) The crate turns it into the C
//! descriptor, vtables and Arrow stream the host expects, keeps every panic on this side of
//! the boundary (a panic reaching the host would abort it), and gives you the host's
//! services through [`Host`], batches to produce through [`BatchBuilder`], batches to read
//! through [`BatchView`] (checked before any read), and the config through [`Json`].

pub mod abi;
mod arrow;
mod decimal;
mod json;
mod reader;
#[doc(hidden)]
pub mod export;

pub use arrow::{export_schema, BatchBuilder, ColumnType, Field, TimeUnit};
pub use decimal::Decimal;
pub use json::Json;
pub use reader::{parse_format, write_json_string, BatchView, ColumnView, Schema, SchemaField, Value};

use abi::*;
use std::ffi::CString;
use std::os::raw::c_char;

/// A failure with the status the host should see and a message naming the problem.
#[derive(Debug, Clone)]
pub struct PluginError {
    pub status: gw_status,
    pub message: String,
}

impl PluginError {
    pub fn new(status: gw_status, message: impl Into<String>) -> PluginError {
        PluginError { status, message: message.into() }
    }
    pub fn invalid_config(m: impl Into<String>) -> PluginError { Self::new(GW_INVALID_CONFIG, m) }
    pub fn invalid_argument(m: impl Into<String>) -> PluginError { Self::new(GW_INVALID_ARGUMENT, m) }
    pub fn unavailable(m: impl Into<String>) -> PluginError { Self::new(GW_UNAVAILABLE, m) }
    pub fn cancelled() -> PluginError { Self::new(GW_CANCELLED, "cancelled") }
    pub fn io(m: impl Into<String>) -> PluginError { Self::new(GW_IO, m) }
    pub fn internal(m: impl Into<String>) -> PluginError { Self::new(GW_INTERNAL, m) }
}

impl std::fmt::Display for PluginError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for PluginError {}

impl From<std::io::Error> for PluginError {
    /// A failed read or write of a file: GW_IO with the system's reason.
    fn from(e: std::io::Error) -> PluginError {
        PluginError::io(e.to_string())
    }
}

/// The host's services for one instance. Valid from `open` until the instance is closed
/// (and, for a read, until its stream is released).
#[derive(Clone, Copy)]
pub struct Host {
    api: *const gw_host_api,
    ctx: *mut gw_host_ctx,
}

// The host's services are thread-safe (gateway_plugin.h: "Every function is thread-safe").
unsafe impl Send for Host {}
unsafe impl Sync for Host {}

pub enum LogLevel {
    Debug = 0,
    Info = 1,
    Warning = 2,
    Error = 3,
}

/// One HTTP answer, copied out of the host's buffers.
pub struct HttpResponse {
    pub status: i32,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

fn c_text(s: &str) -> CString {
    CString::new(s.replace('\0', "")).unwrap_or_default()
}

fn read_error(err: &gw_error) -> String {
    let bytes: Vec<u8> = err.message.iter().take_while(|&&c| c != 0).map(|&c| c as u8).collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

impl Host {
    fn table(&self) -> &gw_host_api {
        unsafe { &*self.api }
    }

    /// True when the host's table reaches the field at `offset` (an older host has a shorter one).
    fn offers(&self, offset: usize) -> bool {
        offset + std::mem::size_of::<usize>() <= self.table().struct_size as usize
    }

    pub fn log(&self, level: LogLevel, message: &str) {
        if let Some(log) = self.table().log {
            let text = c_text(message);
            unsafe { log(self.ctx, level as i32, text.as_ptr()) }
        }
    }

    /// True once the host wants the work stopped: return `PluginError::cancelled()` promptly.
    pub fn is_cancelled(&self) -> bool {
        self.table().is_cancelled.map(|f| unsafe { f(self.ctx) } != 0).unwrap_or(false)
    }

    /// `done` of `total` units (total < 0 when unknown).
    pub fn progress(&self, done: i64, total: i64) {
        if let Some(progress) = self.table().progress {
            unsafe { progress(self.ctx, done, total, std::ptr::null()) }
        }
    }

    /// The instance's persistent value for `key` (cursors, tokens), None when absent.
    pub fn state_get(&self, key: &str) -> Result<Option<Vec<u8>>, PluginError> {
        let (get, release) = match (self.table().state_get, self.table().bytes_release) { (Some(g), Some(r)) => (g, r), _ => return Ok(None) };
        let key = c_text(key);
        let mut out = gw_bytes { data: std::ptr::null(), len: 0, host_private: std::ptr::null_mut() };
        let mut err = new_error();
        let status = unsafe { get(self.ctx, key.as_ptr(), &mut out, &mut err) };
        if status == GW_NOT_FOUND { return Ok(None); }
        if status != GW_OK { return Err(PluginError::new(status, read_error(&err))); }
        let value = if out.data.is_null() || out.len == 0 { Vec::new() } else { unsafe { std::slice::from_raw_parts(out.data, out.len) }.to_vec() };
        unsafe { release(&mut out) };
        Ok(Some(value))
    }

    pub fn state_set(&self, key: &str, value: &[u8]) -> Result<(), PluginError> {
        let set = match self.table().state_set { Some(f) => f, None => return Err(PluginError::new(GW_UNSUPPORTED, "the host keeps no state")) };
        let key = c_text(key);
        let mut err = new_error();
        let status = unsafe { set(self.ctx, key.as_ptr(), value.as_ptr(), value.len(), &mut err) };
        if status == GW_OK { Ok(()) } else { Err(PluginError::new(status, read_error(&err))) }
    }

    /// An HTTP request through the host (its allow-list, timeouts and cancellation).
    pub fn http(&self, method: &str, url: &str, headers: &[(&str, &str)], body: &[u8], timeout_ms: u32) -> Result<HttpResponse, PluginError> {
        let (request, release) = match (self.table().http_request, self.table().http_response_release) {
            (Some(q), Some(r)) => (q, r),
            _ => return Err(PluginError::new(GW_UNSUPPORTED, "the host offers no HTTP service")),
        };
        let method = c_text(method);
        let url = c_text(url);
        let texts: Vec<(CString, CString)> = headers.iter().map(|(n, v)| (c_text(n), c_text(v))).collect();
        let list: Vec<gw_http_header> = texts.iter().map(|(n, v)| gw_http_header { name: n.as_ptr(), value: v.as_ptr() }).collect();
        let req = gw_http_request { struct_size: std::mem::size_of::<gw_http_request>() as u32, method: method.as_ptr(), url: url.as_ptr(),
                                    headers: list.as_ptr(), n_headers: list.len(), body: body.as_ptr(), body_len: body.len(), timeout_ms };
        let mut out = gw_http_response { status_code: 0, headers: std::ptr::null(), n_headers: 0, body: std::ptr::null(), body_len: 0, host_private: std::ptr::null_mut() };
        let mut err = new_error();
        let status = unsafe { request(self.ctx, &req, &mut out, &mut err) };
        if status != GW_OK { return Err(PluginError::new(status, read_error(&err))); }
        let text = |p: *const c_char| if p.is_null() { String::new() } else { unsafe { std::ffi::CStr::from_ptr(p) }.to_string_lossy().into_owned() };
        let headers = (0..out.n_headers).map(|i| { let h = unsafe { &*out.headers.add(i) }; (text(h.name), text(h.value)) }).collect();
        let body = if out.body.is_null() || out.body_len == 0 { Vec::new() } else { unsafe { std::slice::from_raw_parts(out.body, out.body_len) }.to_vec() };
        let status = out.status_code;
        unsafe { release(&mut out) };
        Ok(HttpResponse { status, headers, body })
    }

    /// A sink's destination refused one row while it took the others (ABI 1.2): `row` counts
    /// from `begin`, every batch included (`BatchView::first_row() + row in the batch`). Call
    /// it from `write` or `commit` only. A host older than 1.2 has no such service: the
    /// call is then a no-op and returns false.
    pub fn reject_row(&self, row: i64, reason: &str) -> bool {
        if !self.offers(reject_row_offset()) {
            return false;
        }
        match self.table().reject_row {
            Some(reject) => {
                let reason = c_text(reason);
                unsafe { reject(self.ctx, row, reason.as_ptr()) };
                true
            }
            None => false,
        }
    }

    /// Blocks until one more call may go to a remote API under its limits (ABI 1.1).
    pub fn pace(&self, bucket: &str, per_second: u32, per_minute: u32) -> Result<(), PluginError> {
        if !self.offers(pace_offset()) {
            return Err(PluginError::new(GW_UNSUPPORTED, "pacing needs a gateway of ABI 1.1"));
        }
        let pace = match self.table().pace { Some(f) => f, None => return Ok(()) };
        let bucket = c_text(bucket);
        let mut err = new_error();
        let status = unsafe { pace(self.ctx, bucket.as_ptr(), per_second, per_minute, &mut err) };
        if status == GW_OK { Ok(()) } else { Err(PluginError::new(status, read_error(&err))) }
    }
}

/// Where `pace` lies in the host's table (computed, not `offset_of!`: the crate builds with
/// Debian's rustc 1.63 too).
fn pace_offset() -> usize {
    let table = std::mem::MaybeUninit::<gw_host_api>::uninit();
    let base = table.as_ptr();
    unsafe { std::ptr::addr_of!((*base).pace) as usize - base as usize }
}

fn reject_row_offset() -> usize {
    let table = std::mem::MaybeUninit::<gw_host_api>::uninit();
    let base = table.as_ptr();
    // Sound: addr_of! computes the field's address without reading the uninitialized table.
    unsafe { std::ptr::addr_of!((*base).reject_row) as usize - base as usize }
}

pub(crate) fn new_error() -> gw_error {
    gw_error { message: [0; GW_ERROR_MESSAGE_SIZE] }
}

/// The batches of one read, pulled by the host one at a time (from whichever thread reads
/// the stream; never two at once).
pub trait Batches: Send {
    /// The columns every batch has.
    fn fields(&self) -> Vec<Field>;
    /// The next batch, or None at the end. Check `host.is_cancelled()` between pages.
    fn next(&mut self) -> Result<Option<BatchBuilder>, PluginError>;
}

/// A source instance: made from its config, it starts reads.
pub trait Source: Sized + Send + 'static {
    fn open(config: &Json, host: Host) -> Result<Self, PluginError>;
    /// `request` holds `params` (each a list of strings), `row_limit`, `file` and the rest
    /// of gateway_plugin.h's read request.
    fn read(&mut self, request: &Json) -> Result<Box<dyn Batches>, PluginError>;
    /// Everything the last read produced was durably delivered: commit cursors now.
    fn finish(&mut self) -> Result<(), PluginError> {
        Ok(())
    }
}

/// A sink instance (ABI 1.2): writes the rows of a run into a destination. The host calls
/// `begin`, `write` for each batch, then `commit`; or, when the run fails or is cancelled after
/// `begin`, `abort`. The instance is dropped when the host closes it (after either, and also
/// when `begin` was never called): undo there whatever was not committed.
pub trait Sink: Sized + Send + 'static {
    fn open(config: &Json, host: Host) -> Result<Self, PluginError>;
    /// The columns every batch of this run has. Refuse types you cannot write with
    /// `GW_UNSUPPORTED`, naming the column.
    fn begin(&mut self, schema: &Schema) -> Result<(), PluginError> {
        let _ = schema;
        Ok(())
    }
    /// Hands rows over; deliver now or buffer. An error refuses the batch as a whole
    /// (`GW_UNAVAILABLE`, `GW_RATE_LIMITED`: the host may retry the run); a row the
    /// destination refused alone goes to `Host::reject_row` and is not an error.
    fn write(&mut self, batch: &BatchView) -> Result<(), PluginError>;
    /// Delivers what is buffered; Ok only when every row since `begin` was durably accepted
    /// (or reported rejected): only then does the source move its cursor.
    fn commit(&mut self) -> Result<(), PluginError>;
    /// The run will not commit: drop what is buffered, undo what can be undone. Cannot fail.
    fn abort(&mut self) {}
}

/// The host's sink for a format's bytes (the HTTP response body). Valid until the format
/// instance is dropped; keep it in the instance.
#[derive(Clone, Copy)]
pub struct Output {
    sink: *const gw_byte_sink,
}

// The host's byte sink serves one format instance, which the host never calls from two
// threads at once; the instance (and this handle in it) may move between its threads.
unsafe impl Send for Output {}

impl Output {
    /// Writes `bytes` to the client (the host copies them before returning). It may block
    /// while the client is slow; `GW_CANCELLED` when the client has gone.
    pub fn write(&self, bytes: &[u8]) -> Result<(), PluginError> {
        if bytes.is_empty() {
            return Ok(());
        }
        // Sound: the host's byte sink is valid until the instance's close() returns, and an
        // Output lives only in the instance, which close() drops.
        let sink = unsafe { self.sink.as_ref() }.ok_or_else(|| PluginError::internal("the host gave no byte sink"))?;
        let write = sink.write.ok_or_else(|| PluginError::internal("the host's byte sink has no write function"))?;
        // Sound: `bytes` is valid for the call; the host copies it before returning.
        let status = unsafe { write(sink.sink_private, bytes.as_ptr(), bytes.len()) };
        match status {
            GW_OK => Ok(()),
            GW_CANCELLED => Err(PluginError::new(GW_CANCELLED, "the client has gone")),
            s => Err(PluginError::new(s, format!("the host refused the response's bytes (status {})", s))),
        }
    }
}

impl std::io::Write for Output {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        Output::write(self, buf).map(|_| buf.len()).map_err(|e| std::io::Error::new(std::io::ErrorKind::Other, e.message))
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A format instance: serializes the rows of one response into bytes, written through its
/// [`Output`] as they are produced (keep at most a few batches in memory). `NAME` is what
/// `format=` requests (case-insensitive; `json` is the gateway's own and refused);
/// `MEDIA_TYPE` the response's Content-Type.
pub trait Format: Sized + Send + 'static {
    const NAME: &'static str;
    const MEDIA_TYPE: &'static str;
    fn open(config: &Json, host: Host, output: Output) -> Result<Self, PluginError>;
    /// The columns every batch has; write a header here if the format has one.
    fn begin(&mut self, schema: &Schema) -> Result<(), PluginError>;
    fn write(&mut self, batch: &BatchView) -> Result<(), PluginError>;
    /// Writes whatever ends the stream (a footer, an end marker).
    fn finish(&mut self) -> Result<(), PluginError>;
    /// The stream failed after its first bytes were sent (ABI 1.3): called instead of
    /// `finish`, write what tells a reader of this format why the data stops, if the format
    /// has a way. The host cuts the response afterwards all the same. By default nothing.
    fn write_error(&mut self, message: &str) -> Result<(), PluginError> {
        let _ = message;
        Ok(())
    }
}

/// An exporter instance: writes the rows of one export into files in `output_dir` (an empty
/// directory the host made for this export). Every regular file there after `finish` is the
/// result: keep scratch files elsewhere. `NAME` is what an export's `ext_type` asks for
/// (case-insensitive; `CSV` is the gateway's own and refused); `FILE_EXTENSION` is without a
/// dot, letters and digits.
pub trait Exporter: Sized + Send + 'static {
    const NAME: &'static str;
    const FILE_EXTENSION: &'static str;
    /// `base_name` is the file name to use, without extension.
    fn open(config: &Json, host: Host, output_dir: &std::path::Path, base_name: &str) -> Result<Self, PluginError>;
    fn begin(&mut self, schema: &Schema) -> Result<(), PluginError>;
    fn write(&mut self, batch: &BatchView) -> Result<(), PluginError>;
    /// Completes the files; after an error or a cancel the host deletes `output_dir`.
    fn finish(&mut self) -> Result<(), PluginError>;
}

/// Declares the entry point of a plugin of one or more kinds: each of `source:`, `format:`,
/// `exporter:` and `sink:` (in that order, each optional, at least one) names the type that
/// implements that kind. All kinds share the descriptor's id, config schema and example.
///
/// ```ignore
/// gateway_plugin::declare_plugin!(id: "acme.rows", version: "1.0.0", description: "Rows in and out.",
///     config_schema: r#"{"type":"object"}"#, example_config: "{}", source: MySource, sink: MySink);
/// ```
#[macro_export]
macro_rules! declare_plugin {
    (@table) => { None };
    (@table $make:expr) => { Some($make) };
    (id: $id:expr, version: $version:expr, description: $description:expr,
     config_schema: $schema:expr, example_config: $example:expr
     $(, source: $source:ty)? $(, format: $format:ty)? $(, exporter: $exporter:ty)? $(, sink: $sink:ty)? $(,)?) => {
        #[no_mangle]
        pub extern "C" fn gw_plugin_init_v1(
            host: *const $crate::abi::gw_host_api, err: *mut $crate::abi::gw_error,
        ) -> *const $crate::abi::gw_plugin_descriptor {
            $crate::export::init_kinds(host, err, $crate::export::Texts {
                id: $id, version: $version, description: $description, config_schema: $schema, example_config: $example,
            }, $crate::export::Tables {
                source: $crate::declare_plugin!(@table $($crate::export::source_table::<$source>())?),
                format: $crate::declare_plugin!(@table $($crate::export::format_table::<$format>())?),
                exporter: $crate::declare_plugin!(@table $($crate::export::exporter_table::<$exporter>())?),
                sink: $crate::declare_plugin!(@table $($crate::export::sink_table::<$sink>())?),
            })
        }
    };
}

/// Declares the plugin's entry point for a [`Source`] type.
#[macro_export]
macro_rules! declare_source_plugin {
    ($ty:ty, id: $id:expr, version: $version:expr, description: $description:expr,
     config_schema: $schema:expr, example_config: $example:expr) => {
        $crate::declare_plugin!(id: $id, version: $version, description: $description,
            config_schema: $schema, example_config: $example, source: $ty);
    };
}

/// Declares the plugin's entry point for a [`Sink`] type (the gateway must speak ABI 1.2).
#[macro_export]
macro_rules! declare_sink_plugin {
    ($ty:ty, id: $id:expr, version: $version:expr, description: $description:expr,
     config_schema: $schema:expr, example_config: $example:expr) => {
        $crate::declare_plugin!(id: $id, version: $version, description: $description,
            config_schema: $schema, example_config: $example, sink: $ty);
    };
}

/// Declares the plugin's entry point for a [`Format`] type.
#[macro_export]
macro_rules! declare_format_plugin {
    ($ty:ty, id: $id:expr, version: $version:expr, description: $description:expr,
     config_schema: $schema:expr, example_config: $example:expr) => {
        $crate::declare_plugin!(id: $id, version: $version, description: $description,
            config_schema: $schema, example_config: $example, format: $ty);
    };
}

/// Declares the plugin's entry point for an [`Exporter`] type.
#[macro_export]
macro_rules! declare_exporter_plugin {
    ($ty:ty, id: $id:expr, version: $version:expr, description: $description:expr,
     config_schema: $schema:expr, example_config: $example:expr) => {
        $crate::declare_plugin!(id: $id, version: $version, description: $description,
            config_schema: $schema, example_config: $example, exporter: $ty);
    };
}
