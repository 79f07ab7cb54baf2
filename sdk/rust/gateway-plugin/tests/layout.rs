//! Sizes and offsets of the ABI's structs against the C header's. The gateway's test suite
//! compiles a C program printing them from gateway_plugin.h and passes its output in
//! GW_C_LAYOUT; without it, the x86_64 Linux values below are checked.
use gateway_plugin::abi::*;
use std::mem::size_of;

/// offset_of! without it (stable only since Rust 1.77; the crate builds with 1.63 too).
macro_rules! offset_of {
    ($t:ty, $f:ident) => {{
        let value = std::mem::MaybeUninit::<$t>::uninit();
        let base = value.as_ptr();
        unsafe { std::ptr::addr_of!((*base).$f) as usize - base as usize }
    }};
}

fn ours() -> Vec<(&'static str, usize)> {
    vec![
        ("ArrowSchema", size_of::<ArrowSchema>()),
        ("ArrowArray", size_of::<ArrowArray>()),
        ("ArrowArrayStream", size_of::<ArrowArrayStream>()),
        ("gw_error", size_of::<gw_error>()),
        ("gw_http_header", size_of::<gw_http_header>()),
        ("gw_http_request", size_of::<gw_http_request>()),
        ("gw_http_request.body_len", offset_of!(gw_http_request, body_len)),
        ("gw_http_request.timeout_ms", offset_of!(gw_http_request, timeout_ms)),
        ("gw_http_response", size_of::<gw_http_response>()),
        ("gw_bytes", size_of::<gw_bytes>()),
        ("gw_host_api", size_of::<gw_host_api>()),
        ("gw_host_api.log", offset_of!(gw_host_api, log)),
        ("gw_host_api.shared_lock", offset_of!(gw_host_api, shared_lock)),
        ("gw_host_api.pace", offset_of!(gw_host_api, pace)),
        ("gw_host_api.reject_row", offset_of!(gw_host_api, reject_row)),
        ("gw_source_vtable", size_of::<gw_source_vtable>()),
        ("gw_byte_sink", size_of::<gw_byte_sink>()),
        ("gw_format_vtable", size_of::<gw_format_vtable>()),
        ("gw_format_vtable.write_error", offset_of!(gw_format_vtable, write_error)),
        ("gw_exporter_vtable", size_of::<gw_exporter_vtable>()),
        ("gw_sink_vtable", size_of::<gw_sink_vtable>()),
        ("gw_plugin_descriptor", size_of::<gw_plugin_descriptor>()),
        ("gw_plugin_descriptor.kinds", offset_of!(gw_plugin_descriptor, kinds)),
        ("gw_plugin_descriptor.source", offset_of!(gw_plugin_descriptor, source)),
        ("gw_plugin_descriptor.sink", offset_of!(gw_plugin_descriptor, sink)),
    ]
}

#[test]
fn layouts_match_the_header() {
    let expected: Vec<(String, usize)> = match std::env::var("GW_C_LAYOUT") {
        Ok(path) => std::fs::read_to_string(path).expect("GW_C_LAYOUT is readable").lines()
            .filter_map(|l| { let (k, v) = l.split_once(' ')?; Some((k.to_string(), v.trim().parse().ok()?)) })
            .collect(),
        Err(_) => [("ArrowSchema", 72), ("ArrowArray", 80), ("ArrowArrayStream", 40), ("gw_error", 1024),
            ("gw_http_header", 16), ("gw_http_request", 64), ("gw_http_request.body_len", 48),
            ("gw_http_request.timeout_ms", 56), ("gw_http_response", 48), ("gw_bytes", 24), ("gw_host_api", 128),
            ("gw_host_api.log", 8), ("gw_host_api.shared_lock", 80), ("gw_host_api.pace", 112),
            ("gw_host_api.reject_row", 120), ("gw_source_vtable", 48), ("gw_byte_sink", 16), ("gw_format_vtable", 72), ("gw_format_vtable.write_error", 64),
            ("gw_exporter_vtable", 64), ("gw_sink_vtable", 56), ("gw_plugin_descriptor", 88),
            ("gw_plugin_descriptor.kinds", 32), ("gw_plugin_descriptor.source", 56), ("gw_plugin_descriptor.sink", 80)]
            .iter().map(|(k, v)| (k.to_string(), *v)).collect(),
    };
    let ours = ours();
    assert_eq!(expected.len(), ours.len(), "every layout is compared");
    for (key, value) in expected {
        let found = ours.iter().find(|(k, _)| *k == key).unwrap_or_else(|| panic!("{key} is not checked here"));
        assert_eq!(found.1, value, "{key}: {} in Rust, {value} in C", found.1);
    }
}
