//! What `declare_source_plugin!` expands to call: the descriptor, the vtable thunks and the
//! Arrow stream. Every entry from the host catches panics (an unwinding panic must never
//! cross into the host: the process would abort) and turns them into GW_INTERNAL.

use crate::abi::*;
use crate::{Batches, Host, Json, PluginError, Source};
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

pub fn init<T: Source>(host: *const gw_host_api, err: *mut gw_error, texts: Texts) -> *const gw_plugin_descriptor {
    if host.is_null() || unsafe { (*host).abi_major } != GW_ABI_MAJOR {
        write_error(err, "this plugin needs a gateway speaking ABI 1.x");
        return std::ptr::null();
    }
    let mut slot = match REGISTERED.lock() { Ok(s) => s, Err(p) => p.into_inner() };
    let registered = slot.get_or_insert_with(|| {
        let source = Box::leak(Box::new(gw_source_vtable {
            struct_size: std::mem::size_of::<gw_source_vtable>() as u32, file_extensions: std::ptr::null(),
            open: Some(source_open::<T>), read: Some(source_read::<T>), finish: Some(source_finish::<T>), close: Some(source_close::<T>),
        }));
        let descriptor = Box::leak(Box::new(gw_plugin_descriptor {
            struct_size: std::mem::size_of::<gw_plugin_descriptor>() as u32, abi_major: GW_ABI_MAJOR, abi_minor: GW_ABI_MINOR,
            id: leak(texts.id), version: leak(texts.version), description: leak(texts.description), kinds: GW_KIND_SOURCE,
            config_schema_json: leak(texts.config_schema), example_config_json: leak(texts.example_config),
            source, format: std::ptr::null(), exporter: std::ptr::null(), sink: std::ptr::null(),
        }));
        Registered { host: host as usize, descriptor: descriptor as *const gw_plugin_descriptor as usize }
    });
    registered.descriptor as *const gw_plugin_descriptor
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

