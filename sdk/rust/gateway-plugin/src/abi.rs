//! The C ABI of `Sources/PluginABI/include/gateway_plugin.h` (ABI 1.3), field for field.
//! `tests/layout.rs` checks every size and offset against the header's.
#![allow(non_camel_case_types)]

use std::os::raw::{c_char, c_int, c_void};

pub const GW_ABI_MAJOR: u16 = 1;
pub const GW_ABI_MINOR: u16 = 3;

pub type gw_status = i32;
pub const GW_OK: gw_status = 0;
pub const GW_INVALID_ARGUMENT: gw_status = 1;
pub const GW_INVALID_CONFIG: gw_status = 2;
pub const GW_AUTH: gw_status = 3;
pub const GW_RATE_LIMITED: gw_status = 4;
pub const GW_UNAVAILABLE: gw_status = 5;
pub const GW_NOT_FOUND: gw_status = 6;
pub const GW_CANCELLED: gw_status = 7;
pub const GW_UNSUPPORTED: gw_status = 8;
pub const GW_DENIED: gw_status = 9;
pub const GW_IO: gw_status = 10;
pub const GW_INTERNAL: gw_status = 11;

pub const GW_LOG_DEBUG: i32 = 0;
pub const GW_LOG_INFO: i32 = 1;
pub const GW_LOG_WARNING: i32 = 2;
pub const GW_LOG_ERROR: i32 = 3;

pub const GW_KIND_SOURCE: u32 = 1;
pub const GW_KIND_FORMAT: u32 = 2;
pub const GW_KIND_EXPORTER: u32 = 4;
pub const GW_KIND_SINK: u32 = 8;

pub const GW_ERROR_MESSAGE_SIZE: usize = 1024;

/// errno values a stream's get_next returns (Linux numbering, which the gateway runs on).
pub const EIO: c_int = 5;
pub const ENOMEM: c_int = 12;
pub const EINVAL: c_int = 22;
pub const ECANCELED: c_int = 125;

pub const ARROW_FLAG_NULLABLE: i64 = 2;

#[repr(C)]
pub struct ArrowSchema {
    pub format: *const c_char,
    pub name: *const c_char,
    pub metadata: *const c_char,
    pub flags: i64,
    pub n_children: i64,
    pub children: *mut *mut ArrowSchema,
    pub dictionary: *mut ArrowSchema,
    pub release: Option<unsafe extern "C" fn(*mut ArrowSchema)>,
    pub private_data: *mut c_void,
}

#[repr(C)]
pub struct ArrowArray {
    pub length: i64,
    pub null_count: i64,
    pub offset: i64,
    pub n_buffers: i64,
    pub n_children: i64,
    pub buffers: *mut *const c_void,
    pub children: *mut *mut ArrowArray,
    pub dictionary: *mut ArrowArray,
    pub release: Option<unsafe extern "C" fn(*mut ArrowArray)>,
    pub private_data: *mut c_void,
}

impl ArrowSchema {
    /// A released (empty) schema: what a host or plugin fills, or passes to be filled.
    pub fn empty() -> ArrowSchema {
        ArrowSchema { format: std::ptr::null(), name: std::ptr::null(), metadata: std::ptr::null(), flags: 0, n_children: 0,
                      children: std::ptr::null_mut(), dictionary: std::ptr::null_mut(), release: None, private_data: std::ptr::null_mut() }
    }
}

impl ArrowArray {
    /// A released (empty) array: what a host or plugin fills, or passes to be filled.
    pub fn empty() -> ArrowArray {
        ArrowArray { length: 0, null_count: 0, offset: 0, n_buffers: 0, n_children: 0, buffers: std::ptr::null_mut(),
                     children: std::ptr::null_mut(), dictionary: std::ptr::null_mut(), release: None, private_data: std::ptr::null_mut() }
    }
}

#[repr(C)]
pub struct ArrowArrayStream {
    pub get_schema: Option<unsafe extern "C" fn(*mut ArrowArrayStream, *mut ArrowSchema) -> c_int>,
    pub get_next: Option<unsafe extern "C" fn(*mut ArrowArrayStream, *mut ArrowArray) -> c_int>,
    pub get_last_error: Option<unsafe extern "C" fn(*mut ArrowArrayStream) -> *const c_char>,
    pub release: Option<unsafe extern "C" fn(*mut ArrowArrayStream)>,
    pub private_data: *mut c_void,
}

#[repr(C)]
pub struct gw_error {
    pub message: [c_char; GW_ERROR_MESSAGE_SIZE],
}

/// Opaque: the host's handle for one plugin instance.
#[repr(C)]
pub struct gw_host_ctx {
    _private: [u8; 0],
}

#[repr(C)]
pub struct gw_http_header {
    pub name: *const c_char,
    pub value: *const c_char,
}

#[repr(C)]
pub struct gw_http_request {
    pub struct_size: u32,
    pub method: *const c_char,
    pub url: *const c_char,
    pub headers: *const gw_http_header,
    pub n_headers: usize,
    pub body: *const u8,
    pub body_len: usize,
    pub timeout_ms: u32,
}

#[repr(C)]
pub struct gw_http_response {
    pub status_code: i32,
    pub headers: *const gw_http_header,
    pub n_headers: usize,
    pub body: *const u8,
    pub body_len: usize,
    pub host_private: *mut c_void,
}

#[repr(C)]
pub struct gw_bytes {
    pub data: *const u8,
    pub len: usize,
    pub host_private: *mut c_void,
}

type Ctx = *mut gw_host_ctx;
type Err = *mut gw_error;

#[repr(C)]
pub struct gw_host_api {
    pub struct_size: u32,
    pub abi_major: u16,
    pub abi_minor: u16,
    pub log: Option<unsafe extern "C" fn(Ctx, i32, *const c_char)>,
    pub http_request: Option<unsafe extern "C" fn(Ctx, *const gw_http_request, *mut gw_http_response, Err) -> gw_status>,
    pub http_response_release: Option<unsafe extern "C" fn(*mut gw_http_response)>,
    pub state_get: Option<unsafe extern "C" fn(Ctx, *const c_char, *mut gw_bytes, Err) -> gw_status>,
    pub state_set: Option<unsafe extern "C" fn(Ctx, *const c_char, *const u8, usize, Err) -> gw_status>,
    pub state_delete: Option<unsafe extern "C" fn(Ctx, *const c_char, Err) -> gw_status>,
    pub bytes_release: Option<unsafe extern "C" fn(*mut gw_bytes)>,
    pub progress: Option<unsafe extern "C" fn(Ctx, i64, i64, *const c_char)>,
    pub is_cancelled: Option<unsafe extern "C" fn(Ctx) -> i32>,
    // ABI 1.1
    pub shared_lock: Option<unsafe extern "C" fn(Ctx, *const c_char, u32, Err) -> gw_status>,
    pub shared_unlock: Option<unsafe extern "C" fn(Ctx, *const c_char)>,
    pub shared_state_get: Option<unsafe extern "C" fn(Ctx, *const c_char, *mut gw_bytes, Err) -> gw_status>,
    pub shared_state_set: Option<unsafe extern "C" fn(Ctx, *const c_char, *const u8, usize, Err) -> gw_status>,
    pub pace: Option<unsafe extern "C" fn(Ctx, *const c_char, u32, u32, Err) -> gw_status>,
    // ABI 1.2
    pub reject_row: Option<unsafe extern "C" fn(Ctx, i64, *const c_char)>,
}

#[repr(C)]
pub struct gw_source_vtable {
    pub struct_size: u32,
    pub file_extensions: *const c_char,
    pub open: Option<unsafe extern "C" fn(Ctx, *const c_char, usize, *mut *mut c_void, Err) -> gw_status>,
    pub read: Option<unsafe extern "C" fn(*mut c_void, *const c_char, usize, *mut ArrowArrayStream, Err) -> gw_status>,
    pub finish: Option<unsafe extern "C" fn(*mut c_void, Err) -> gw_status>,
    pub close: Option<unsafe extern "C" fn(*mut c_void)>,
}

#[repr(C)]
pub struct gw_byte_sink {
    pub sink_private: *mut c_void,
    pub write: Option<unsafe extern "C" fn(*mut c_void, *const u8, usize) -> gw_status>,
}

#[repr(C)]
pub struct gw_format_vtable {
    pub struct_size: u32,
    pub name: *const c_char,
    pub media_type: *const c_char,
    pub open: Option<unsafe extern "C" fn(Ctx, *const c_char, usize, *const gw_byte_sink, *mut *mut c_void, Err) -> gw_status>,
    pub begin: Option<unsafe extern "C" fn(*mut c_void, *const ArrowSchema, Err) -> gw_status>,
    pub write_batch: Option<unsafe extern "C" fn(*mut c_void, *const ArrowArray, Err) -> gw_status>,
    pub finish: Option<unsafe extern "C" fn(*mut c_void, Err) -> gw_status>,
    pub close: Option<unsafe extern "C" fn(*mut c_void)>,
    // ABI 1.3
    pub write_error: Option<unsafe extern "C" fn(*mut c_void, *const c_char, Err) -> gw_status>,
}

#[repr(C)]
pub struct gw_exporter_vtable {
    pub struct_size: u32,
    pub name: *const c_char,
    pub file_extension: *const c_char,
    pub open: Option<unsafe extern "C" fn(Ctx, *const c_char, usize, *const c_char, *const c_char, *mut *mut c_void, Err) -> gw_status>,
    pub begin: Option<unsafe extern "C" fn(*mut c_void, *const ArrowSchema, Err) -> gw_status>,
    pub write_batch: Option<unsafe extern "C" fn(*mut c_void, *const ArrowArray, Err) -> gw_status>,
    pub finish: Option<unsafe extern "C" fn(*mut c_void, Err) -> gw_status>,
    pub close: Option<unsafe extern "C" fn(*mut c_void)>,
}

#[repr(C)]
pub struct gw_sink_vtable {
    pub struct_size: u32,
    pub open: Option<unsafe extern "C" fn(Ctx, *const c_char, usize, *mut *mut c_void, Err) -> gw_status>,
    pub begin: Option<unsafe extern "C" fn(*mut c_void, *const ArrowSchema, Err) -> gw_status>,
    pub write_batch: Option<unsafe extern "C" fn(*mut c_void, *const ArrowArray, Err) -> gw_status>,
    pub commit: Option<unsafe extern "C" fn(*mut c_void, Err) -> gw_status>,
    pub abort: Option<unsafe extern "C" fn(*mut c_void)>,
    pub close: Option<unsafe extern "C" fn(*mut c_void)>,
}

#[repr(C)]
pub struct gw_plugin_descriptor {
    pub struct_size: u32,
    pub abi_major: u16,
    pub abi_minor: u16,
    pub id: *const c_char,
    pub version: *const c_char,
    pub description: *const c_char,
    pub kinds: u32,
    pub config_schema_json: *const c_char,
    pub example_config_json: *const c_char,
    pub source: *const gw_source_vtable,
    pub format: *const gw_format_vtable,
    pub exporter: *const gw_exporter_vtable,
    // ABI 1.2
    pub sink: *const gw_sink_vtable,
}
