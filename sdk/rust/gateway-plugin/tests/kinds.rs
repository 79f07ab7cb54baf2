//! One image declaring all four kinds with `declare_plugin!`, driven through its descriptor
//! as the host drives it: a fake host table, the vtables' functions called in the header's
//! order, errors and panics coming back as statuses and messages, never as unwinding.
use gateway_plugin::abi::*;
use gateway_plugin::{declare_plugin, export_schema, BatchBuilder, BatchView, Batches, ColumnType, Exporter, Field, Format, Host, Json,
                     Output, PluginError, Schema, Sink, Source};
use std::ffi::{CStr, CString};
use std::os::raw::{c_char, c_void};
use std::ptr;
use std::sync::Mutex;

// ---- the plugin ----

static SINK_EVENTS: Mutex<Vec<String>> = Mutex::new(Vec::new());
static REJECTED: Mutex<Vec<(i64, String)>> = Mutex::new(Vec::new());
/// The sink tests share the events above: one at a time.
static SINK_TESTS: Mutex<()> = Mutex::new(());

fn note(events: &Mutex<Vec<String>>, event: String) {
    events.lock().unwrap_or_else(|p| p.into_inner()).push(event);
}

struct RowsSink {
    host: Host,
    panic_on_write: bool,
    pending: Vec<String>,
}

impl Sink for RowsSink {
    fn open(config: &Json, host: Host) -> Result<Self, PluginError> {
        let label = config.get("label").and_then(Json::as_str).ok_or_else(|| PluginError::invalid_config("'label' is required"))?;
        note(&SINK_EVENTS, format!("open {}", label));
        Ok(RowsSink { host, panic_on_write: config.get("panic").and_then(Json::as_bool).unwrap_or(false), pending: Vec::new() })
    }
    fn begin(&mut self, schema: &Schema) -> Result<(), PluginError> {
        let names: Vec<&str> = schema.fields.iter().map(|f| f.name.as_str()).collect();
        note(&SINK_EVENTS, format!("begin {}", names.join(",")));
        Ok(())
    }
    fn write(&mut self, batch: &BatchView) -> Result<(), PluginError> {
        if self.panic_on_write {
            panic!("boom at row {}", batch.first_row());
        }
        for row in 0..batch.len() {
            if batch.column(0).i64(row).map_or(false, |n| n < 0) {
                self.host.reject_row(batch.first_row() + row as i64, "n is negative");
                continue;
            }
            let mut line = String::new();
            batch.write_row_json(row, &mut line);
            self.pending.push(line);
        }
        Ok(())
    }
    fn commit(&mut self) -> Result<(), PluginError> {
        note(&SINK_EVENTS, format!("commit {}", self.pending.join(" ")));
        Ok(())
    }
    fn abort(&mut self) {
        note(&SINK_EVENTS, format!("abort {} pending", self.pending.len()));
    }
}

impl Drop for RowsSink {
    fn drop(&mut self) {
        note(&SINK_EVENTS, "close".to_string());
    }
}

struct Lines {
    out: Output,
}

impl Format for Lines {
    const NAME: &'static str = "test-lines";
    const MEDIA_TYPE: &'static str = "text/plain; charset=utf-8";
    fn open(_config: &Json, _host: Host, out: Output) -> Result<Self, PluginError> {
        Ok(Lines { out })
    }
    fn begin(&mut self, schema: &Schema) -> Result<(), PluginError> {
        let names: Vec<&str> = schema.fields.iter().map(|f| f.name.as_str()).collect();
        self.out.write(format!("{}\n", names.join("\t")).as_bytes())
    }
    fn write(&mut self, batch: &BatchView) -> Result<(), PluginError> {
        let mut text = String::new();
        for row in 0..batch.len() {
            for (i, column) in batch.columns().iter().enumerate() {
                if i > 0 { text.push('\t'); }
                column.write_text(row, &mut text);
            }
            text.push('\n');
        }
        self.out.write(text.as_bytes())
    }
    fn finish(&mut self) -> Result<(), PluginError> {
        self.out.write(b"end\n")
    }
    fn write_error(&mut self, message: &str) -> Result<(), PluginError> {
        self.out.write(format!("error: {}\n", message).as_bytes())
    }
}

struct Files {
    path: std::path::PathBuf,
    text: String,
}

impl Exporter for Files {
    const NAME: &'static str = "TESTTSV";
    const FILE_EXTENSION: &'static str = "tsv";
    fn open(_config: &Json, _host: Host, dir: &std::path::Path, base: &str) -> Result<Self, PluginError> {
        Ok(Files { path: dir.join(format!("{}.tsv", base)), text: String::new() })
    }
    fn begin(&mut self, _schema: &Schema) -> Result<(), PluginError> {
        Ok(())
    }
    fn write(&mut self, batch: &BatchView) -> Result<(), PluginError> {
        for row in 0..batch.len() {
            batch.column(0).write_text(row, &mut self.text);
            self.text.push('\n');
        }
        Ok(())
    }
    fn finish(&mut self) -> Result<(), PluginError> {
        Ok(std::fs::write(&self.path, &self.text)?)
    }
}

struct Nothing;

impl Source for Nothing {
    fn open(_config: &Json, _host: Host) -> Result<Self, PluginError> {
        Ok(Nothing)
    }
    fn read(&mut self, _request: &Json) -> Result<Box<dyn Batches>, PluginError> {
        Err(PluginError::new(GW_UNSUPPORTED, "nothing to read"))
    }
}

declare_plugin!(id: "test.every-kind", version: "0.1.0", description: "All four kinds in one image.",
    config_schema: r#"{"type":"object"}"#, example_config: r#"{"label":"x"}"#,
    source: Nothing, format: Lines, exporter: Files, sink: RowsSink);

// ---- a fake host ----

unsafe extern "C" fn reject_row(_ctx: *mut gw_host_ctx, row: i64, reason: *const c_char) {
    let reason = CStr::from_ptr(reason).to_string_lossy().into_owned();
    REJECTED.lock().unwrap_or_else(|p| p.into_inner()).push((row, reason));
}

unsafe extern "C" fn not_cancelled(_ctx: *mut gw_host_ctx) -> i32 {
    0
}

fn host_table(minor: u16) -> &'static gw_host_api {
    Box::leak(Box::new(gw_host_api {
        struct_size: std::mem::size_of::<gw_host_api>() as u32, abi_major: 1, abi_minor: minor, log: None, http_request: None,
        http_response_release: None, state_get: None, state_set: None, state_delete: None, bytes_release: None, progress: None,
        is_cancelled: Some(not_cancelled), shared_lock: None, shared_unlock: None, shared_state_get: None, shared_state_set: None,
        pace: None, reject_row: Some(reject_row),
    }))
}

fn new_error() -> gw_error {
    gw_error { message: [0; GW_ERROR_MESSAGE_SIZE] }
}

fn message(err: &gw_error) -> String {
    unsafe { CStr::from_ptr(err.message.as_ptr()) }.to_string_lossy().into_owned()
}

fn descriptor() -> &'static gw_plugin_descriptor {
    let mut err = new_error();
    let d = gw_plugin_init_v1(host_table(3), &mut err);
    assert!(!d.is_null(), "{}", message(&err));
    unsafe { &*d }
}

fn text(p: *const c_char) -> String {
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

fn ctx() -> *mut gw_host_ctx {
    0x1000 as *mut gw_host_ctx  // opaque to the plugin; the fake host never reads it
}

/// A schema and one batch of (n int64, name utf8) rows, released when dropped.
struct Rows {
    schema: ArrowSchema,
    batches: Vec<ArrowArray>,
}

impl Rows {
    fn new(batches: &[&[(i64, Option<&str>)]]) -> Rows {
        let fields = vec![Field::new("n", ColumnType::Int64), Field::new("name", ColumnType::Utf8)];
        let mut schema = ArrowSchema { format: ptr::null(), name: ptr::null(), metadata: ptr::null(), flags: 0, n_children: 0,
                                       children: ptr::null_mut(), dictionary: ptr::null_mut(), release: None, private_data: ptr::null_mut() };
        export_schema(&fields, &mut schema);
        let arrays = batches.iter().map(|rows| {
            let mut b = BatchBuilder::new(&fields);
            for (n, name) in rows.iter() {
                b.push_i64(0, Some(*n));
                b.push_str(1, *name).unwrap();
                b.end_row();
            }
            let mut a = ArrowArray { length: 0, null_count: 0, offset: 0, n_buffers: 0, n_children: 0, buffers: ptr::null_mut(),
                                     children: ptr::null_mut(), dictionary: ptr::null_mut(), release: None, private_data: ptr::null_mut() };
            b.export(&mut a);
            a
        }).collect();
        Rows { schema, batches: arrays }
    }
}

impl Drop for Rows {
    fn drop(&mut self) {
        unsafe {
            for a in self.batches.iter_mut() {
                if let Some(r) = a.release { r(a) }
            }
            if let Some(r) = self.schema.release { r(&mut self.schema) }
        }
    }
}

// ---- the tests ----

#[test]
fn one_image_declares_every_kind_with_tables_as_the_header_sizes_them() {
    let d = descriptor();
    assert_eq!(d.struct_size as usize, std::mem::size_of::<gw_plugin_descriptor>());
    assert_eq!((d.abi_major, d.abi_minor), (GW_ABI_MAJOR, GW_ABI_MINOR));
    assert_eq!(d.kinds, GW_KIND_SOURCE | GW_KIND_FORMAT | GW_KIND_EXPORTER | GW_KIND_SINK);
    assert_eq!(text(d.id), "test.every-kind");
    assert_eq!(text(d.example_config_json), r#"{"label":"x"}"#);
    let (format, exporter, sink) = unsafe { (&*d.format, &*d.exporter, &*d.sink) };
    assert!(!d.source.is_null());
    assert_eq!(format.struct_size as usize, std::mem::size_of::<gw_format_vtable>());
    assert!(format.write_error.is_some());
    assert_eq!((text(format.name), text(format.media_type)), ("test-lines".to_string(), "text/plain; charset=utf-8".to_string()));
    assert_eq!((text(exporter.name), text(exporter.file_extension)), ("TESTTSV".to_string(), "tsv".to_string()));
    assert_eq!(sink.struct_size as usize, std::mem::size_of::<gw_sink_vtable>());
    // A second call gets the same descriptor.
    assert!(ptr::eq(descriptor(), d));
}

#[test]
fn a_host_of_another_major_or_without_sinks_is_refused_with_a_message() {
    let mut table = host_table(3).clone_table();
    table.abi_major = 2;
    let mut err = new_error();
    assert!(gw_plugin_init_v1(&table, &mut err).is_null());
    assert!(message(&err).contains("needs a gateway speaking ABI 1.x"), "{}", message(&err));
    let mut err = new_error();
    assert!(gw_plugin_init_v1(host_table(1), &mut err).is_null());
    assert!(message(&err).contains("needs a gateway of ABI 1.2"), "{}", message(&err));
    let mut err = new_error();
    assert!(gw_plugin_init_v1(ptr::null(), &mut err).is_null());
}

trait CloneTable {
    fn clone_table(&self) -> gw_host_api;
}

impl CloneTable for gw_host_api {
    fn clone_table(&self) -> gw_host_api {
        // Sound: every field is plain data or a function pointer.
        unsafe { ptr::read(self) }
    }
}

#[test]
fn a_sink_is_driven_through_begin_write_commit_and_rejects_rows_by_stream_position() {
    let _serial = SINK_TESTS.lock().unwrap_or_else(|p| p.into_inner());
    let d = descriptor();
    let sink = unsafe { &*d.sink };
    let rows = Rows::new(&[&[(1, Some("a")), (-2, Some("b"))], &[(3, None), (-4, Some("d")), (5, Some("e\"q"))]]);

    let mut err = new_error();
    let mut instance: *mut c_void = ptr::null_mut();
    let config = CString::new(r#"{"label": "first"}"#).unwrap();
    assert_eq!(unsafe { (sink.open.unwrap())(ctx(), config.as_ptr(), config.as_bytes().len(), &mut instance, &mut err) }, GW_OK);
    // A batch before begin() is an error, not a read of nothing.
    assert_eq!(unsafe { (sink.write_batch.unwrap())(instance, &rows.batches[0], &mut err) }, GW_INTERNAL);
    assert!(message(&err).contains("before begin"), "{}", message(&err));
    assert_eq!(unsafe { (sink.begin.unwrap())(instance, &rows.schema, &mut err) }, GW_OK);
    for batch in rows.batches.iter() {
        assert_eq!(unsafe { (sink.write_batch.unwrap())(instance, batch, &mut err) }, GW_OK, "{}", message(&err));
    }
    assert_eq!(unsafe { (sink.commit.unwrap())(instance, &mut err) }, GW_OK);
    unsafe { (sink.close.unwrap())(instance) };

    let events = SINK_EVENTS.lock().unwrap().clone();
    let ours: Vec<&String> = events.iter().skip_while(|e| *e != "open first").take(4).collect();
    assert_eq!(ours, [
        "open first", "begin n,name",
        r#"commit {"n":1,"name":"a"} {"n":3,"name":null} {"n":5,"name":"e\"q"}"#, "close",
    ]);
    let rejected = REJECTED.lock().unwrap().clone();
    assert_eq!(rejected, [(1, "n is negative".to_string()), (3, "n is negative".to_string())]);
}

#[test]
fn a_sinks_errors_and_panics_come_back_as_statuses_and_abort_then_close_follow() {
    let _serial = SINK_TESTS.lock().unwrap_or_else(|p| p.into_inner());
    let d = descriptor();
    let sink = unsafe { &*d.sink };
    let rows = Rows::new(&[&[(1, Some("a"))]]);
    let mut err = new_error();
    let mut instance: *mut c_void = ptr::null_mut();

    let bad = CString::new(r#"{"nolabel": 1}"#).unwrap();
    assert_eq!(unsafe { (sink.open.unwrap())(ctx(), bad.as_ptr(), bad.as_bytes().len(), &mut instance, &mut err) }, GW_INVALID_CONFIG);
    assert_eq!(message(&err), "'label' is required");
    let broken = CString::new("{").unwrap();
    assert_eq!(unsafe { (sink.open.unwrap())(ctx(), broken.as_ptr(), 1, &mut instance, &mut err) }, GW_INVALID_CONFIG);
    assert!(message(&err).starts_with("the config is not valid JSON"), "{}", message(&err));

    let config = CString::new(r#"{"label": "second", "panic": true}"#).unwrap();
    assert_eq!(unsafe { (sink.open.unwrap())(ctx(), config.as_ptr(), config.as_bytes().len(), &mut instance, &mut err) }, GW_OK);
    assert_eq!(unsafe { (sink.begin.unwrap())(instance, &rows.schema, &mut err) }, GW_OK);
    let mut err = new_error();
    assert_eq!(unsafe { (sink.write_batch.unwrap())(instance, &rows.batches[0], &mut err) }, GW_INTERNAL);
    assert_eq!(message(&err), "the plugin panicked: boom at row 0");
    // A batch the reader refuses is the host's bad argument, named.
    let mut broken = Rows::new(&[&[(1, Some("a"))]]);
    broken.batches[0].n_children = 1;
    assert_eq!(unsafe { (sink.write_batch.unwrap())(instance, &broken.batches[0], &mut err) }, GW_INVALID_ARGUMENT);
    assert!(message(&err).contains("the batch has 1 columns, its schema 2"), "{}", message(&err));
    broken.batches[0].n_children = 2;
    unsafe { (sink.abort.unwrap())(instance) };
    unsafe { (sink.close.unwrap())(instance) };
    let events = SINK_EVENTS.lock().unwrap().clone();
    let ours: Vec<&String> = events.iter().skip_while(|e| *e != "open second").take(4).collect();
    assert_eq!(ours, ["open second", "begin n,name", "abort 0 pending", "close"]);
}

unsafe extern "C" fn collect(private: *mut c_void, data: *const u8, len: usize) -> gw_status {
    let out = &mut *(private as *mut Vec<u8>);
    out.extend_from_slice(std::slice::from_raw_parts(data, len));
    GW_OK
}

unsafe extern "C" fn gone(_private: *mut c_void, _data: *const u8, _len: usize) -> gw_status {
    GW_CANCELLED
}

#[test]
fn a_format_writes_through_the_hosts_byte_sink_and_its_errors_reach_the_host() {
    let d = descriptor();
    let format = unsafe { &*d.format };
    let rows = Rows::new(&[&[(1, Some("a")), (2, None)], &[], &[(3, Some("c"))]]);
    let mut body: Vec<u8> = Vec::new();
    let byte_sink = gw_byte_sink { sink_private: &mut body as *mut Vec<u8> as *mut c_void, write: Some(collect) };
    let mut err = new_error();
    let mut instance: *mut c_void = ptr::null_mut();
    assert_eq!(unsafe { (format.open.unwrap())(ctx(), b"{}\0".as_ptr() as *const c_char, 2, &byte_sink, &mut instance, &mut err) }, GW_OK);
    assert_eq!(unsafe { (format.begin.unwrap())(instance, &rows.schema, &mut err) }, GW_OK);
    for batch in rows.batches.iter() {
        assert_eq!(unsafe { (format.write_batch.unwrap())(instance, batch, &mut err) }, GW_OK, "{}", message(&err));
    }
    assert_eq!(unsafe { (format.finish.unwrap())(instance, &mut err) }, GW_OK);
    unsafe { (format.close.unwrap())(instance) };
    assert_eq!(String::from_utf8(body).unwrap(), "n\tname\n1\ta\n2\t\n3\tc\nend\n");

    // The stream failed after its first bytes: write_error instead of finish.
    let mut body: Vec<u8> = Vec::new();
    let byte_sink = gw_byte_sink { sink_private: &mut body as *mut Vec<u8> as *mut c_void, write: Some(collect) };
    assert_eq!(unsafe { (format.open.unwrap())(ctx(), ptr::null(), 0, &byte_sink, &mut instance, &mut err) }, GW_OK);
    assert_eq!(unsafe { (format.begin.unwrap())(instance, &rows.schema, &mut err) }, GW_OK);
    let reason = CString::new("the source timed out").unwrap();
    assert_eq!(unsafe { (format.write_error.unwrap())(instance, reason.as_ptr(), &mut err) }, GW_OK);
    unsafe { (format.close.unwrap())(instance) };
    assert_eq!(String::from_utf8(body).unwrap(), "n\tname\nerror: the source timed out\n");

    // The client has gone: the host's status comes back as the plugin's.
    let byte_sink = gw_byte_sink { sink_private: ptr::null_mut(), write: Some(gone) };
    assert_eq!(unsafe { (format.open.unwrap())(ctx(), ptr::null(), 0, &byte_sink, &mut instance, &mut err) }, GW_OK);
    assert_eq!(unsafe { (format.begin.unwrap())(instance, &rows.schema, &mut err) }, GW_CANCELLED);
    assert_eq!(message(&err), "the client has gone");
    unsafe { (format.close.unwrap())(instance) };
}

#[test]
fn an_exporter_writes_its_file_into_the_hosts_directory() {
    let d = descriptor();
    let exporter = unsafe { &*d.exporter };
    let dir = std::env::temp_dir().join(format!("gw-rust-exporter-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let dir_c = CString::new(dir.to_str().unwrap()).unwrap();
    let base = CString::new("orders").unwrap();
    let rows = Rows::new(&[&[(1, Some("a")), (2, None)], &[(3, Some("c"))]]);
    let mut err = new_error();
    let mut instance: *mut c_void = ptr::null_mut();
    assert_eq!(unsafe { (exporter.open.unwrap())(ctx(), ptr::null(), 0, dir_c.as_ptr(), base.as_ptr(), &mut instance, &mut err) }, GW_OK);
    assert_eq!(unsafe { (exporter.begin.unwrap())(instance, &rows.schema, &mut err) }, GW_OK);
    for batch in rows.batches.iter() {
        assert_eq!(unsafe { (exporter.write_batch.unwrap())(instance, batch, &mut err) }, GW_OK);
    }
    assert_eq!(unsafe { (exporter.finish.unwrap())(instance, &mut err) }, GW_OK);
    unsafe { (exporter.close.unwrap())(instance) };
    assert_eq!(std::fs::read_to_string(dir.join("orders.tsv")).unwrap(), "1\n2\n3\n");
    std::fs::remove_dir_all(&dir).unwrap();

    // A directory that is gone: the write's failure is GW_IO with the system's reason.
    assert_eq!(unsafe { (exporter.open.unwrap())(ctx(), ptr::null(), 0, dir_c.as_ptr(), base.as_ptr(), &mut instance, &mut err) }, GW_OK);
    assert_eq!(unsafe { (exporter.begin.unwrap())(instance, &rows.schema, &mut err) }, GW_OK);
    assert_eq!(unsafe { (exporter.finish.unwrap())(instance, &mut err) }, GW_IO);
    assert!(message(&err).contains("No such file or directory"), "{}", message(&err));
    unsafe { (exporter.close.unwrap())(instance) };
}
