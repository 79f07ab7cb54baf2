//! Builds batches in the Arrow C Data Interface for the host: typed columns with validity,
//! exported with their own release callbacks (the host frees them, possibly on another thread).

use crate::abi::{ArrowArray, ArrowSchema, ARROW_FLAG_NULLABLE};
use std::ffi::CString;
use std::os::raw::{c_char, c_void};
use std::ptr;

/// The column types a Rust source can produce (a subset of the ABI's: the common ones).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ColumnType {
    Int64,
    Float64,
    Utf8,
    Bool,
}

impl ColumnType {
    fn format(self) -> &'static [u8] {
        match self {
            ColumnType::Int64 => b"l\0",
            ColumnType::Float64 => b"g\0",
            ColumnType::Utf8 => b"u\0",
            ColumnType::Bool => b"b\0",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Field {
    pub name: String,
    pub ty: ColumnType,
}

impl Field {
    pub fn new(name: &str, ty: ColumnType) -> Field {
        Field { name: name.to_string(), ty }
    }
}

struct Column {
    ty: ColumnType,
    /// int64/float64: 8 bytes a value; bool: bits; utf8: the bytes of every string.
    values: Vec<u8>,
    offsets: Vec<i32>,
    validity: Vec<u8>,
    nulls: i64,
    /// Values pushed: a column's next row index.
    count: i64,
}

/// Rows for one batch, column by column. Push one value per column per row, then
/// `export` hands the batch to the host.
pub struct BatchBuilder {
    columns: Vec<Column>,
    rows: i64,
}

impl BatchBuilder {
    pub fn new(fields: &[Field]) -> BatchBuilder {
        let columns = fields.iter().map(|f| Column { ty: f.ty, values: Vec::new(), offsets: vec![0], validity: Vec::new(), nulls: 0, count: 0 }).collect();
        BatchBuilder { columns, rows: 0 }
    }

    /// Rows finished so far.
    pub fn len(&self) -> usize {
        self.rows as usize
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    fn set_valid(column: &mut Column, valid: bool) {
        let index = column.count;
        column.count += 1;
        let byte = (index / 8) as usize;
        if column.validity.len() <= byte {
            column.validity.resize(byte + 1, 0);
        }
        if valid {
            column.validity[byte] |= 1 << (index % 8);
        } else {
            column.nulls += 1;
        }
    }

    fn column(&mut self, index: usize, ty: ColumnType) -> &mut Column {
        let rows = self.rows;
        let column = &mut self.columns[index];
        assert!(column.ty == ty, "column {index} is {:?}, not {ty:?}", column.ty);
        assert!(column.count == rows, "column {index} already has a value for row {rows}");
        column
    }

    pub fn push_i64(&mut self, index: usize, value: Option<i64>) {
        let c = self.column(index, ColumnType::Int64);
        c.values.extend_from_slice(&value.unwrap_or(0).to_le_bytes());
        Self::set_valid(c, value.is_some());
    }

    pub fn push_f64(&mut self, index: usize, value: Option<f64>) {
        let c = self.column(index, ColumnType::Float64);
        c.values.extend_from_slice(&value.unwrap_or(0.0).to_le_bytes());
        Self::set_valid(c, value.is_some());
    }

    /// Text; a string longer than the 2 GiB a utf8 column holds in all is an error.
    pub fn push_str(&mut self, index: usize, value: Option<&str>) -> Result<(), crate::PluginError> {
        let c = self.column(index, ColumnType::Utf8);
        if let Some(s) = value {
            c.values.extend_from_slice(s.as_bytes());
        }
        let end = i32::try_from(c.values.len()).map_err(|_| crate::PluginError::invalid_argument("a text column holds more than 2 GiB in one batch"))?;
        c.offsets.push(end);
        Self::set_valid(c, value.is_some());
        Ok(())
    }

    pub fn push_bool(&mut self, index: usize, value: Option<bool>) {
        let c = self.column(index, ColumnType::Bool);
        let row = c.count;
        let byte = (row / 8) as usize;
        if c.values.len() <= byte {
            c.values.resize(byte + 1, 0);
        }
        if value == Some(true) {
            c.values[byte] |= 1 << (row % 8);
        }
        Self::set_valid(c, value.is_some());
    }

    /// Ends the current row: every column must have had its value pushed.
    pub fn end_row(&mut self) {
        self.rows += 1;
        for (i, c) in self.columns.iter().enumerate() {
            assert!(c.count == self.rows, "column {i} has no value for row {}", self.rows - 1);
        }
    }

    /// Moves the rows into `out` (owned by the host from then on; its release frees them).
    pub fn export(self, out: &mut ArrowArray) {
        let rows = self.rows;
        let mut children: Vec<*mut ArrowArray> = Vec::with_capacity(self.columns.len());
        for column in self.columns {
            children.push(Box::into_raw(Box::new(export_column(column, rows))));
        }
        let parent = Box::new(Owned { buffers: vec![ptr::null()], _storage: Vec::new(), children });
        fill(out, rows, 0, parent);
    }
}

/// What an exported array owns: its buffer pointers, the bytes behind them, its children.
struct Owned {
    buffers: Vec<*const c_void>,
    // Kept alive: `buffers` points into these.
    _storage: Vec<Vec<u8>>,
    children: Vec<*mut ArrowArray>,
}

fn fill(out: &mut ArrowArray, length: i64, null_count: i64, mut owned: Box<Owned>) {
    out.length = length;
    out.null_count = null_count;
    out.offset = 0;
    out.n_buffers = owned.buffers.len() as i64;
    out.n_children = owned.children.len() as i64;
    out.buffers = owned.buffers.as_mut_ptr();
    out.children = if owned.children.is_empty() { ptr::null_mut() } else { owned.children.as_mut_ptr() };
    out.dictionary = ptr::null_mut();
    out.release = Some(release_array);
    out.private_data = Box::into_raw(owned) as *mut c_void;
}

fn export_column(c: Column, rows: i64) -> ArrowArray {
    let mut storage = Vec::new();
    let validity = if c.nulls > 0 { let mut v = c.validity; v.resize(((rows + 7) / 8) as usize, 0); Some(v) } else { None };
    let mut buffers: Vec<*const c_void> = Vec::new();
    match validity {
        Some(v) => { buffers.push(v.as_ptr() as *const c_void); storage.push(v); }
        None => buffers.push(ptr::null()),
    }
    if c.ty == ColumnType::Utf8 {
        let offsets: Vec<u8> = c.offsets.iter().flat_map(|o| o.to_le_bytes()).collect();
        buffers.push(offsets.as_ptr() as *const c_void);
        storage.push(offsets);
    }
    let mut values = c.values;
    if c.ty == ColumnType::Bool { values.resize(((rows + 7) / 8) as usize, 0); }
    if values.is_empty() { values.push(0); }  // a valid pointer even for zero rows
    buffers.push(values.as_ptr() as *const c_void);
    storage.push(values);
    let mut array = ArrowArray { length: 0, null_count: 0, offset: 0, n_buffers: 0, n_children: 0, buffers: ptr::null_mut(),
                                 children: ptr::null_mut(), dictionary: ptr::null_mut(), release: None, private_data: ptr::null_mut() };
    fill(&mut array, rows, c.nulls, Box::new(Owned { buffers, _storage: storage, children: Vec::new() }));
    array
}

unsafe extern "C" fn release_array(array: *mut ArrowArray) {
    let array = match array.as_mut() { Some(a) => a, None => return };
    if array.private_data.is_null() { return; }
    let owned = Box::from_raw(array.private_data as *mut Owned);
    for &child in &owned.children {
        if let Some(release) = (*child).release {
            release(child);
        }
        drop(Box::from_raw(child));
    }
    array.release = None;
    array.private_data = ptr::null_mut();
}

/// What an exported schema owns.
struct OwnedSchema {
    _strings: Vec<CString>,
    children: Vec<*mut ArrowSchema>,
}

/// Writes the schema of `fields` into `out` (a struct "+s" with one nullable child a column).
pub fn export_schema(fields: &[Field], out: &mut ArrowSchema) {
    let mut children = Vec::with_capacity(fields.len());
    let mut strings = Vec::new();
    for field in fields {
        let name = CString::new(field.name.replace('\0', "")).unwrap_or_default();
        let child = ArrowSchema { format: field.ty.format().as_ptr() as *const c_char, name: name.as_ptr(), metadata: ptr::null(),
                                  flags: ARROW_FLAG_NULLABLE, n_children: 0, children: ptr::null_mut(), dictionary: ptr::null_mut(),
                                  release: Some(release_schema),
                                  private_data: Box::into_raw(Box::new(OwnedSchema { _strings: Vec::new(), children: Vec::new() })) as *mut c_void };
        strings.push(name);
        children.push(Box::into_raw(Box::new(child)));
    }
    let mut owned = Box::new(OwnedSchema { _strings: strings, children });
    out.format = b"+s\0".as_ptr() as *const c_char;
    out.name = b"\0".as_ptr() as *const c_char;
    out.metadata = ptr::null();
    out.flags = 0;
    out.n_children = owned.children.len() as i64;
    out.children = if owned.children.is_empty() { ptr::null_mut() } else { owned.children.as_mut_ptr() };
    out.dictionary = ptr::null_mut();
    out.release = Some(release_schema);
    out.private_data = Box::into_raw(owned) as *mut c_void;
}

unsafe extern "C" fn release_schema(schema: *mut ArrowSchema) {
    let schema = match schema.as_mut() { Some(s) => s, None => return };
    if schema.private_data.is_null() { return; }
    let owned = Box::from_raw(schema.private_data as *mut OwnedSchema);
    for &child in &owned.children {
        if let Some(release) = (*child).release {
            release(child);
        }
        drop(Box::from_raw(child));
    }
    schema.release = None;
    schema.private_data = ptr::null_mut();
}
