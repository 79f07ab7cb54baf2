//! What the `declare_*_plugin!` macros expand to call: the descriptor, the vtable thunks of
//! every kind and the Arrow stream. Every entry from the host catches panics (an unwinding
//! panic must never cross into the host: the process would abort) and turns them into
//! GW_INTERNAL with the panic's message.

use crate::abi::*;
use crate::{BatchView, Batches, Exporter, Format, Host, Json, Output, PluginError, Schema, Sink, Source};
use std::ffi::CString;
use std::os::raw::{c_char, c_int, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Mutex;

pub struct Texts {
    pub id: &'static str,
    pub version: &'static str,
    pub description: &'static str,
    pub config_schema: &'static str,
    pub example_config: &'static str,
}

/// The host's table and our descriptor, made once per image; both live for the process.
struct Registered {
    host: usize,
    descriptor: usize,
}
static REGISTERED: Mutex<Option<Registered>> = Mutex::new(None);

fn leak(s: &str) -> *const c_char {
    CString::new(s.replace('\0', "")).unwrap_or_default().into_raw()
}

fn write_error(err: *mut gw_error, message: &str) {
    let err = match unsafe { err.as_mut() } { Some(e) => e, None => return };
    let bytes = message.as_bytes();
    let mut n = bytes.len().min(GW_ERROR_MESSAGE_SIZE - 1);
    while n > 0 && !message.is_char_boundary(n) { n -= 1; }
    for (i, b) in bytes[..n].iter().enumerate() { err.message[i] = *b as c_char; }
    err.message[n] = 0;
}

/// Runs `body`, turning an error or a panic into a status and a message.
fn guarded(err: *mut gw_error, body: impl FnOnce() -> Result<(), PluginError>) -> gw_status {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => GW_OK,
        Ok(Err(e)) => { write_error(err, &e.message); e.status }
        Err(panic) => {
            let what = panic.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| panic.downcast_ref::<String>().cloned()).unwrap_or_default();
            write_error(err, &format!("the plugin panicked: {what}"));
            GW_INTERNAL
        }
    }
}

fn host() -> *const gw_host_api {
    match REGISTERED.lock() {
        Ok(r) => r.as_ref().map(|r| r.host as *const gw_host_api).unwrap_or(std::ptr::null()),
        Err(_) => std::ptr::null(),
    }
}

/// The vtables of the kinds a plugin declares, None for the others.
pub struct Tables {
    pub source: Option<gw_source_vtable>,
    pub format: Option<gw_format_vtable>,
    pub exporter: Option<gw_exporter_vtable>,
    pub sink: Option<gw_sink_vtable>,
}

/// The descriptor of a source-only plugin (what `declare_source_plugin!` called before
/// `declare_plugin!` existed; kept for code that calls it directly).
pub fn init<T: Source>(host: *const gw_host_api, err: *mut gw_error, texts: Texts) -> *const gw_plugin_descriptor {
    init_kinds(host, err, texts, Tables { source: Some(source_table::<T>()), format: None, exporter: None, sink: None })
}

// Called only by the entry point the macros write, with the host's own pointer: an unsafe fn
// would only move the unsafe block into every plugin.
#[allow(clippy::not_unsafe_ptr_arg_deref)]
/// Checks the host and makes the descriptor once per image (the host calls the entry once;
/// a second call gets the same descriptor). Everything it points to lives for the process.
pub fn init_kinds(host: *const gw_host_api, err: *mut gw_error, texts: Texts, tables: Tables) -> *const gw_plugin_descriptor {
    let made = catch_unwind(AssertUnwindSafe(|| {
        // Sound: the host passes a table valid for the life of the process, or null.
        let table = match unsafe { host.as_ref() } {
            Some(t) => t,
            None => return Err("the host passed no service table".to_string()),
        };
        if table.abi_major != GW_ABI_MAJOR {
            return Err(format!("this plugin needs a gateway speaking ABI {}.x, not {}.{}", GW_ABI_MAJOR, table.abi_major, table.abi_minor));
        }
        // A sink's table came with ABI 1.2: an older host would not even look at it.
        if tables.sink.is_some() && table.abi_minor < 2 {
            return Err(format!("this plugin is a sink, which needs a gateway of ABI 1.2 or later (this one speaks 1.{})", table.abi_minor));
        }
        let mut slot = match REGISTERED.lock() { Ok(s) => s, Err(p) => p.into_inner() };
        let registered = slot.get_or_insert_with(|| {
            let kinds = tables.source.as_ref().map_or(0, |_| GW_KIND_SOURCE) | tables.format.as_ref().map_or(0, |_| GW_KIND_FORMAT)
                | tables.exporter.as_ref().map_or(0, |_| GW_KIND_EXPORTER) | tables.sink.as_ref().map_or(0, |_| GW_KIND_SINK);
            fn leaked<T>(table: Option<T>) -> *const T {
                table.map_or(std::ptr::null(), |t| Box::leak(Box::new(t)) as *const T)
            }
            let descriptor = Box::leak(Box::new(gw_plugin_descriptor {
                struct_size: std::mem::size_of::<gw_plugin_descriptor>() as u32, abi_major: GW_ABI_MAJOR, abi_minor: GW_ABI_MINOR,
                id: leak(texts.id), version: leak(texts.version), description: leak(texts.description), kinds,
                config_schema_json: leak(texts.config_schema), example_config_json: leak(texts.example_config),
                source: leaked(tables.source), format: leaked(tables.format), exporter: leaked(tables.exporter), sink: leaked(tables.sink),
            }));
            Registered { host: host as usize, descriptor: descriptor as *const gw_plugin_descriptor as usize }
        });
        Ok(registered.descriptor as *const gw_plugin_descriptor)
    }));
    match made {
        Ok(Ok(descriptor)) => descriptor,
        Ok(Err(message)) => { write_error(err, &message); std::ptr::null() }
        Err(_) => { write_error(err, "the plugin panicked making its descriptor"); std::ptr::null() }
    }
}

pub fn source_table<T: Source>() -> gw_source_vtable {
    gw_source_vtable {
        struct_size: std::mem::size_of::<gw_source_vtable>() as u32, file_extensions: std::ptr::null(),
        open: Some(source_open::<T>), read: Some(source_read::<T>), finish: Some(source_finish::<T>), close: Some(source_close::<T>),
    }
}

pub fn sink_table<T: Sink>() -> gw_sink_vtable {
    gw_sink_vtable {
        struct_size: std::mem::size_of::<gw_sink_vtable>() as u32,
        open: Some(sink_open::<T>), begin: Some(sink_begin::<T>), write_batch: Some(sink_write::<T>),
        commit: Some(sink_commit::<T>), abort: Some(sink_abort::<T>), close: Some(close::<SinkInstance<T>>),
    }
}

pub fn format_table<T: Format>() -> gw_format_vtable {
    gw_format_vtable {
        struct_size: std::mem::size_of::<gw_format_vtable>() as u32, name: leak(T::NAME), media_type: leak(T::MEDIA_TYPE),
        open: Some(format_open::<T>), begin: Some(format_begin::<T>), write_batch: Some(format_write::<T>),
        finish: Some(format_finish::<T>), close: Some(close::<Writer<T>>), write_error: Some(format_error::<T>),
    }
}

pub fn exporter_table<T: Exporter>() -> gw_exporter_vtable {
    gw_exporter_vtable {
        struct_size: std::mem::size_of::<gw_exporter_vtable>() as u32, name: leak(T::NAME), file_extension: leak(T::FILE_EXTENSION),
        open: Some(exporter_open::<T>), begin: Some(exporter_begin::<T>), write_batch: Some(exporter_write::<T>),
        finish: Some(exporter_finish::<T>), close: Some(close::<Writer<T>>),
    }
}

/// `text` of `len` bytes (not NUL-terminated by contract), parsed as JSON.
fn json(text: *const c_char, len: usize, what: &str, status: gw_status) -> Result<Json, PluginError> {
    if text.is_null() || len == 0 { return Ok(Json::Object(Vec::new())); }
    let bytes = unsafe { std::slice::from_raw_parts(text as *const u8, len) };
    Json::parse(bytes).map_err(|e| PluginError::new(status, format!("{what} is not valid JSON: {e}")))
}

struct Instance<T> {
    source: T,
}

extern "C" fn source_open<T: Source>(ctx: *mut gw_host_ctx, config: *const c_char, len: usize, instance: *mut *mut c_void, err: *mut gw_error) -> gw_status {
    guarded(err, || {
        let host = Host { api: host(), ctx };
        let config = json(config, len, "the config", GW_INVALID_CONFIG)?;
        let source = T::open(&config, host)?;
        unsafe { *instance = Box::into_raw(Box::new(Instance { source })) as *mut c_void };
        Ok(())
    })
}

extern "C" fn source_read<T: Source>(instance: *mut c_void, request: *const c_char, len: usize, out: *mut ArrowArrayStream, err: *mut gw_error) -> gw_status {
    guarded(err, || {
        let instance = unsafe { (instance as *mut Instance<T>).as_mut() }.ok_or_else(|| PluginError::new(GW_INTERNAL, "no instance"))?;
        let out = unsafe { out.as_mut() }.ok_or_else(|| PluginError::invalid_argument("no output stream"))?;
        let request = json(request, len, "the read request", GW_INVALID_ARGUMENT)?;
        let batches = instance.source.read(&request)?;
        export_stream(batches, out);
        Ok(())
    })
}

extern "C" fn source_finish<T: Source>(instance: *mut c_void, err: *mut gw_error) -> gw_status {
    guarded(err, || {
        let instance = unsafe { (instance as *mut Instance<T>).as_mut() }.ok_or_else(|| PluginError::new(GW_INTERNAL, "no instance"))?;
        instance.source.finish()
    })
}

extern "C" fn source_close<T: Source>(instance: *mut c_void) {
    if instance.is_null() { return; }
    let _ = catch_unwind(AssertUnwindSafe(|| drop(unsafe { Box::from_raw(instance as *mut Instance<T>) })));
}

// ---- the Arrow stream ----

struct Stream {
    batches: Box<dyn Batches>,
    last_error: CString,
}

fn export_stream(batches: Box<dyn Batches>, out: &mut ArrowArrayStream) {
    out.get_schema = Some(stream_schema);
    out.get_next = Some(stream_next);
    out.get_last_error = Some(stream_error);
    out.release = Some(stream_release);
    out.private_data = Box::into_raw(Box::new(Stream { batches, last_error: CString::default() })) as *mut c_void;
}

fn errno(status: gw_status) -> c_int {
    match status {
        GW_CANCELLED => ECANCELED,
        GW_INVALID_ARGUMENT | GW_INVALID_CONFIG => EINVAL,
        _ => EIO,
    }
}

extern "C" fn stream_schema(stream: *mut ArrowArrayStream, out: *mut ArrowSchema) -> c_int {
    let (stream, out) = match (unsafe { stream.as_mut() }, unsafe { out.as_mut() }) { (Some(s), Some(o)) => (s, o), _ => return EINVAL };
    let state = unsafe { &mut *(stream.private_data as *mut Stream) };
    match catch_unwind(AssertUnwindSafe(|| crate::export_schema(&state.batches.fields(), out))) {
        Ok(()) => 0,
        Err(_) => { state.last_error = CString::new("the plugin panicked describing its columns").unwrap_or_default(); EIO }
    }
}

extern "C" fn stream_next(stream: *mut ArrowArrayStream, out: *mut ArrowArray) -> c_int {
    let (stream, out) = match (unsafe { stream.as_mut() }, unsafe { out.as_mut() }) { (Some(s), Some(o)) => (s, o), _ => return EINVAL };
    let state = unsafe { &mut *(stream.private_data as *mut Stream) };
    let result = catch_unwind(AssertUnwindSafe(|| state.batches.next()));
    let failure = match result {
        Ok(Ok(Some(batch))) => { batch.export(out); return 0; }
        Ok(Ok(None)) => { out.release = None; return 0; }  // the end of the stream
        Ok(Err(e)) => e,
        Err(_) => PluginError::new(GW_INTERNAL, "the plugin panicked reading a batch"),
    };
    state.last_error = CString::new(failure.message.replace('\0', "")).unwrap_or_default();
    errno(failure.status)
}

extern "C" fn stream_error(stream: *mut ArrowArrayStream) -> *const c_char {
    match unsafe { stream.as_ref() } {
        Some(s) if !s.private_data.is_null() => unsafe { &*(s.private_data as *const Stream) }.last_error.as_ptr(),
        _ => std::ptr::null(),
    }
}

extern "C" fn stream_release(stream: *mut ArrowArrayStream) {
    let stream = match unsafe { stream.as_mut() } { Some(s) => s, None => return };
    if !stream.private_data.is_null() {
        let _ = catch_unwind(AssertUnwindSafe(|| drop(unsafe { Box::from_raw(stream.private_data as *mut Stream) })));
    }
    stream.private_data = std::ptr::null_mut();
    stream.release = None;
}


// ---- sinks, formats and exporters ----

/// The instance behind the host's `void *`: the plugin's value and the schema `begin` gave.
struct Writer<T> {
    inner: T,
    schema: Option<Schema>,
}

struct SinkInstance<T> {
    writer: Writer<T>,
    /// Rows handed over since `begin`: where the next batch's row 0 lies in the stream.
    rows: i64,
}

/// The instance at `instance`, or an error when the host passed none.
///
/// # Safety
/// `instance` is null or what this module's open() returned for a `W`, not yet closed, and
/// the host never calls one instance from two threads at once (gateway_plugin.h, THREADS).
unsafe fn instance_mut<'a, W>(instance: *mut c_void) -> Result<&'a mut W, PluginError> {
    (instance as *mut W).as_mut().ok_or_else(|| PluginError::internal("no instance"))
}

fn store<W>(instance: *mut *mut c_void, value: W) -> Result<(), PluginError> {
    if instance.is_null() {
        return Err(PluginError::internal("the host gave no place for the instance"));
    }
    // Sound: checked non-null above; the host passes a pointer to its own slot.
    unsafe { *instance = Box::into_raw(Box::new(value)) as *mut c_void };
    Ok(())
}

extern "C" fn close<W>(instance: *mut c_void) {
    if instance.is_null() { return; }
    // Sound: close() is called exactly once per successful open(), with what open() stored;
    // a panic in the plugin's Drop stays on this side.
    let _ = catch_unwind(AssertUnwindSafe(|| drop(unsafe { Box::from_raw(instance as *mut W) })));
}

impl<T> Writer<T> {
    /// Copies the host's schema, hands it to the plugin's `begin`, and keeps it for the
    /// batches to come.
    fn begin(&mut self, schema: *const ArrowSchema, body: impl FnOnce(&mut T, &Schema) -> Result<(), PluginError>) -> Result<(), PluginError> {
        self.schema = None;
        // Sound: the host's schema is borrowed for this call and is copied here.
        let schema = unsafe { Schema::from_raw(schema) }?;
        body(&mut self.inner, &schema)?;
        self.schema = Some(schema);
        Ok(())
    }
}

/// The batch at `batch`, checked against the schema `begin` gave, and the plugin's value.
fn with_batch<T, R>(writer: &mut Writer<T>, batch: *const ArrowArray, first_row: i64,
                    body: impl FnOnce(&mut T, &BatchView) -> Result<R, PluginError>) -> Result<R, PluginError> {
    let schema = writer.schema.as_ref().ok_or_else(|| PluginError::internal("write_batch() before begin()"))?;
    // Sound: the host's batch is borrowed for this call and its buffers are as long as its
    // lengths say; the view is checked before any read and dropped before we return.
    let view = unsafe { BatchView::from_raw(schema, batch) }?.starting_at(first_row);
    body(&mut writer.inner, &view)
}

extern "C" fn sink_open<T: Sink>(ctx: *mut gw_host_ctx, config: *const c_char, len: usize, instance: *mut *mut c_void, err: *mut gw_error) -> gw_status {
    guarded(err, || {
        let config = json(config, len, "the config", GW_INVALID_CONFIG)?;
        let inner = T::open(&config, Host { api: host(), ctx })?;
        store(instance, SinkInstance { writer: Writer { inner, schema: None }, rows: 0 })
    })
}

extern "C" fn sink_begin<T: Sink>(instance: *mut c_void, schema: *const ArrowSchema, err: *mut gw_error) -> gw_status {
    guarded(err, || {
        let s = unsafe { instance_mut::<SinkInstance<T>>(instance) }?;
        s.rows = 0;
        s.writer.begin(schema, |sink, schema| sink.begin(schema))
    })
}

extern "C" fn sink_write<T: Sink>(instance: *mut c_void, batch: *const ArrowArray, err: *mut gw_error) -> gw_status {
    guarded(err, || {
        let s = unsafe { instance_mut::<SinkInstance<T>>(instance) }?;
        let rows = with_batch(&mut s.writer, batch, s.rows, |sink, view| sink.write(view).map(|_| view.len()))?;
        s.rows += rows as i64;
        Ok(())
    })
}

extern "C" fn sink_commit<T: Sink>(instance: *mut c_void, err: *mut gw_error) -> gw_status {
    guarded(err, || unsafe { instance_mut::<SinkInstance<T>>(instance) }?.writer.inner.commit())
}

extern "C" fn sink_abort<T: Sink>(instance: *mut c_void) {
    // abort() cannot fail: an error has nowhere to go, a panic must not cross.
    let _ = catch_unwind(AssertUnwindSafe(|| {
        if let Ok(s) = unsafe { instance_mut::<SinkInstance<T>>(instance) } {
            s.writer.inner.abort();
        }
    }));
}

extern "C" fn format_open<T: Format>(ctx: *mut gw_host_ctx, config: *const c_char, len: usize, sink: *const gw_byte_sink,
                                     instance: *mut *mut c_void, err: *mut gw_error) -> gw_status {
    guarded(err, || {
        if sink.is_null() {
            return Err(PluginError::internal("the host gave no byte sink"));
        }
        let config = json(config, len, "the config", GW_INVALID_CONFIG)?;
        let inner = T::open(&config, Host { api: host(), ctx }, Output { sink })?;
        store(instance, Writer { inner, schema: None })
    })
}

extern "C" fn format_begin<T: Format>(instance: *mut c_void, schema: *const ArrowSchema, err: *mut gw_error) -> gw_status {
    guarded(err, || {
        let w = unsafe { instance_mut::<Writer<T>>(instance) }?;
        w.begin(schema, |inner, schema| inner.begin(schema))
    })
}

extern "C" fn format_write<T: Format>(instance: *mut c_void, batch: *const ArrowArray, err: *mut gw_error) -> gw_status {
    guarded(err, || with_batch(unsafe { instance_mut::<Writer<T>>(instance) }?, batch, 0, |f, view| f.write(view)))
}

extern "C" fn format_finish<T: Format>(instance: *mut c_void, err: *mut gw_error) -> gw_status {
    guarded(err, || unsafe { instance_mut::<Writer<T>>(instance) }?.inner.finish())
}

extern "C" fn format_error<T: Format>(instance: *mut c_void, message: *const c_char, err: *mut gw_error) -> gw_status {
    guarded(err, || {
        let message = if message.is_null() {
            String::new()
        } else {
            // Sound: the host passes a NUL-terminated string borrowed for the call.
            unsafe { std::ffi::CStr::from_ptr(message) }.to_string_lossy().into_owned()
        };
        unsafe { instance_mut::<Writer<T>>(instance) }?.inner.write_error(&message)
    })
}

extern "C" fn exporter_open<T: Exporter>(ctx: *mut gw_host_ctx, config: *const c_char, len: usize, output_dir: *const c_char,
                                         base_name: *const c_char, instance: *mut *mut c_void, err: *mut gw_error) -> gw_status {
    guarded(err, || {
        use std::os::unix::ffi::OsStrExt;
        if output_dir.is_null() || base_name.is_null() {
            return Err(PluginError::internal("the host gave no output directory or base name"));
        }
        // Sound: both are NUL-terminated strings borrowed for the call; copied here.
        let dir = std::path::PathBuf::from(std::ffi::OsStr::from_bytes(unsafe { std::ffi::CStr::from_ptr(output_dir) }.to_bytes()));
        let base = unsafe { std::ffi::CStr::from_ptr(base_name) }.to_string_lossy().into_owned();
        let config = json(config, len, "the config", GW_INVALID_CONFIG)?;
        let inner = T::open(&config, Host { api: host(), ctx }, &dir, &base)?;
        store(instance, Writer { inner, schema: None })
    })
}

extern "C" fn exporter_begin<T: Exporter>(instance: *mut c_void, schema: *const ArrowSchema, err: *mut gw_error) -> gw_status {
    guarded(err, || {
        let w = unsafe { instance_mut::<Writer<T>>(instance) }?;
        w.begin(schema, |inner, schema| inner.begin(schema))
    })
}

extern "C" fn exporter_write<T: Exporter>(instance: *mut c_void, batch: *const ArrowArray, err: *mut gw_error) -> gw_status {
    guarded(err, || with_batch(unsafe { instance_mut::<Writer<T>>(instance) }?, batch, 0, |e, view| e.write(view)))
}

extern "C" fn exporter_finish<T: Exporter>(instance: *mut c_void, err: *mut gw_error) -> gw_status {
    guarded(err, || unsafe { instance_mut::<Writer<T>>(instance) }?.inner.finish())
}
