//! Builds batches in the Arrow C Data Interface for the host: typed columns with validity,
//! exported with their own release callbacks (the host frees them, possibly on another thread).

use crate::abi::{ArrowArray, ArrowSchema, ARROW_FLAG_NULLABLE};
use crate::decimal;
use std::ffi::CString;
use std::os::raw::{c_char, c_void};
use std::ptr;

/// The unit of a timestamp column's values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TimeUnit {
    Second,
    Milli,
    Micro,
    Nano,
}

/// The column types of the ABI (`gateway_plugin.h`, "Rows at the boundary"): every one can
/// be built by [`BatchBuilder`] and read by [`crate::ColumnView`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ColumnType {
    /// Every value null; no buffers.
    Null,
    Bool,
    Int8,
    Int16,
    Int32,
    Int64,
    UInt8,
    UInt16,
    UInt32,
    UInt64,
    Float32,
    Float64,
    Utf8,
    Binary,
    /// Days since 1970-01-01.
    Date32,
    /// Milliseconds since 1970-01-01 (whole days).
    Date64,
    /// A time without a zone (a wall-clock reading), in `TimeUnit`s since 1970-01-01.
    Timestamp(TimeUnit),
    /// An instant, in `TimeUnit`s since 1970-01-01 UTC.
    TimestampUtc(TimeUnit),
    /// An exact number: an unscaled integer of at most `precision` (1..=38) digits, scaled
    /// by 10^`scale`.
    Decimal128 { precision: u8, scale: i8 },
    /// The same in 256 bits: at most `precision` (1..=76) digits.
    Decimal256 { precision: u8, scale: i8 },
}

impl ColumnType {
    /// The Arrow C data interface format string.
    pub fn format(self) -> String {
        let unit = |u: TimeUnit| match u {
            TimeUnit::Second => "s",
            TimeUnit::Milli => "m",
            TimeUnit::Micro => "u",
            TimeUnit::Nano => "n",
        };
        match self {
            ColumnType::Null => "n".to_string(),
            ColumnType::Bool => "b".to_string(),
            ColumnType::Int8 => "c".to_string(),
            ColumnType::Int16 => "s".to_string(),
            ColumnType::Int32 => "i".to_string(),
            ColumnType::Int64 => "l".to_string(),
            ColumnType::UInt8 => "C".to_string(),
            ColumnType::UInt16 => "S".to_string(),
            ColumnType::UInt32 => "I".to_string(),
            ColumnType::UInt64 => "L".to_string(),
            ColumnType::Float32 => "f".to_string(),
            ColumnType::Float64 => "g".to_string(),
            ColumnType::Utf8 => "u".to_string(),
            ColumnType::Binary => "z".to_string(),
            ColumnType::Date32 => "tdD".to_string(),
            ColumnType::Date64 => "tdm".to_string(),
            ColumnType::Timestamp(u) => format!("ts{}:", unit(u)),
            ColumnType::TimestampUtc(u) => format!("ts{}:UTC", unit(u)),
            ColumnType::Decimal128 { precision, scale } => format!("d:{},{}", precision, scale),
            ColumnType::Decimal256 { precision, scale } => format!("d:{},{},256", precision, scale),
        }
    }

    /// Bytes a value takes in the values buffer (0: bits, or offsets and bytes).
    fn width(self) -> usize {
        match self {
            ColumnType::Null | ColumnType::Bool | ColumnType::Utf8 | ColumnType::Binary => 0,
            ColumnType::Int8 | ColumnType::UInt8 => 1,
            ColumnType::Int16 | ColumnType::UInt16 => 2,
            ColumnType::Int32 | ColumnType::UInt32 | ColumnType::Float32 | ColumnType::Date32 => 4,
            ColumnType::Decimal128 { .. } => 16,
            ColumnType::Decimal256 { .. } => 32,
            _ => 8,
        }
    }

    /// The range of whole numbers `push_int` takes for this column, if it takes any.
    fn int_range(self) -> Option<(i128, i128)> {
        match self {
            ColumnType::Int8 => Some((i8::MIN as i128, i8::MAX as i128)),
            ColumnType::Int16 => Some((i16::MIN as i128, i16::MAX as i128)),
            ColumnType::Int32 | ColumnType::Date32 => Some((i32::MIN as i128, i32::MAX as i128)),
            ColumnType::Int64 | ColumnType::Date64 | ColumnType::Timestamp(_) | ColumnType::TimestampUtc(_) => {
                Some((i64::MIN as i128, i64::MAX as i128))
            }
            ColumnType::UInt8 => Some((0, u8::MAX as i128)),
            ColumnType::UInt16 => Some((0, u16::MAX as i128)),
            ColumnType::UInt32 => Some((0, u32::MAX as i128)),
            ColumnType::UInt64 => Some((0, u64::MAX as i128)),
            _ => None,
        }
    }

    /// Buffers an array of this type carries, the validity bitmap's slot included (the
    /// Arrow C data interface: none for null, offsets and data for utf8 and binary).
    pub fn buffer_count(self) -> usize {
        match self {
            ColumnType::Null => 0,
            ColumnType::Utf8 | ColumnType::Binary => 3,
            _ => 2,
        }
    }

    /// Bytes one value takes in the values buffer; None for bits (bool), offsets (utf8,
    /// binary) and no buffer (null).
    pub fn byte_width(self) -> Option<usize> {
        match self.width() {
            0 => None,
            w => Some(w),
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
    /// Fixed-width types: `width` bytes a value; bool: bits; utf8 and binary: the bytes of
    /// every value.
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

    /// The column at `index`, which must be of a type `accepts`; its value for this row not
    /// pushed yet.
    fn column_where(&mut self, index: usize, what: &str, accepts: impl Fn(ColumnType) -> bool) -> &mut Column {
        let rows = self.rows;
        let column = &mut self.columns[index];
        assert!(accepts(column.ty), "column {index} is {:?}, which takes no {what}", column.ty);
        assert!(column.count == rows, "column {index} already has a value for row {rows}");
        column
    }

    /// A whole number into any integer column, or a date or timestamp column (its days, or
    /// its units since 1970). A value outside the column's range is an error, never cut.
    pub fn push_int(&mut self, index: usize, value: Option<i128>) -> Result<(), crate::PluginError> {
        let c = self.column_where(index, "whole numbers", |t| t.int_range().is_some());
        let (low, high) = c.ty.int_range().unwrap_or((0, 0));
        let v = value.unwrap_or(0);
        if v < low || v > high {
            return Err(crate::PluginError::invalid_argument(format!("{} does not fit a column of type {}", v, c.ty.format())));
        }
        let width = c.ty.width();
        c.values.extend_from_slice(&v.to_le_bytes()[..width]);
        Self::set_valid(c, value.is_some());
        Ok(())
    }

    pub fn push_f32(&mut self, index: usize, value: Option<f32>) {
        let c = self.column(index, ColumnType::Float32);
        c.values.extend_from_slice(&value.unwrap_or(0.0).to_le_bytes());
        Self::set_valid(c, value.is_some());
    }

    /// Bytes into a binary column; more than the 2 GiB a column holds in one batch is an error.
    pub fn push_bytes(&mut self, index: usize, value: Option<&[u8]>) -> Result<(), crate::PluginError> {
        let c = self.column(index, ColumnType::Binary);
        Self::push_variable(c, value)
    }

    fn push_variable(c: &mut Column, value: Option<&[u8]>) -> Result<(), crate::PluginError> {
        if let Some(bytes) = value {
            c.values.extend_from_slice(bytes);
        }
        let end = i32::try_from(c.values.len()).map_err(|_| crate::PluginError::invalid_argument("a column holds more than 2 GiB in one batch"))?;
        c.offsets.push(end);
        Self::set_valid(c, value.is_some());
        Ok(())
    }

    /// A decimal given unscaled (12.50 in a `Decimal128 { precision: 10, scale: 2 }` column
    /// is 1250); more digits than the precision is an error, never rounded.
    /// Into a decimal256 column as well (sign-extended).
    pub fn push_decimal(&mut self, index: usize, unscaled: Option<i128>) -> Result<(), crate::PluginError> {
        let c = self.column_where(index, "decimals", is_decimal);
        if let ColumnType::Decimal256 { .. } = c.ty {
            return Self::push_decimal_words(c, unscaled.map(decimal::words_of_i128));
        }
        let precision = match c.ty {
            ColumnType::Decimal128 { precision, .. } => precision.min(38) as u32,
            _ => 38,
        };
        let v = unscaled.unwrap_or(0);
        let limit = 10i128.pow(precision);
        if v <= -limit || v >= limit {
            return Err(crate::PluginError::invalid_argument(format!("{} has more than {} digits ({})", v, precision, c.ty.format())));
        }
        c.values.extend_from_slice(&v.to_le_bytes());
        Self::set_valid(c, unscaled.is_some());
        Ok(())
    }

    /// A decimal as text ("-12.5", "+0.25", "3") into a decimal128 or decimal256 column, at
    /// the column's scale: more fraction digits than the scale, or more digits than the
    /// precision, is an error, never rounded or cut.
    pub fn push_decimal_text(&mut self, index: usize, text: Option<&str>) -> Result<(), crate::PluginError> {
        let c = self.column_where(index, "decimals", is_decimal);
        let (precision, scale, wide) = match c.ty {
            ColumnType::Decimal128 { precision, scale } => (precision.min(38) as u32, scale as i32, false),
            ColumnType::Decimal256 { precision, scale } => (precision.min(76) as u32, scale as i32, true),
            _ => (0, 0, false),
        };
        let words = match text {
            None => None,
            Some(t) => Some(decimal::parse_decimal(t, precision, scale)
                .map_err(|e| crate::PluginError::invalid_argument(format!("{} ({})", e, c.ty.format())))?),
        };
        if wide {
            return Self::push_decimal_words(c, words);
        }
        // At most 38 digits: the value fits the lower two words.
        let words = words.unwrap_or([0; 4]);
        c.values.extend_from_slice(&words[0].to_le_bytes());
        c.values.extend_from_slice(&words[1].to_le_bytes());
        Self::set_valid(c, text.is_some());
        Ok(())
    }

    /// An unscaled 256-bit integer as 32 little-endian bytes of two's complement (the
    /// column's buffer layout) into a decimal256 column; more digits than the precision is
    /// an error.
    pub fn push_decimal256(&mut self, index: usize, unscaled: Option<[u8; 32]>) -> Result<(), crate::PluginError> {
        let c = self.column_where(index, "256-bit decimals", |t| matches!(t, ColumnType::Decimal256 { .. }));
        let words = unscaled.map(|bytes| {
            let mut words = [0u64; 4];
            for (i, w) in words.iter_mut().enumerate() {
                let mut b = [0u8; 8];
                b.copy_from_slice(&bytes[i * 8..i * 8 + 8]);
                *w = u64::from_le_bytes(b);
            }
            words
        });
        Self::push_decimal_words(c, words)
    }

    /// An unscaled 256-bit integer given as `high * 2^128 + low` (`high` carries the sign)
    /// into a decimal256 column; more digits than the precision is an error.
    pub fn push_decimal256_parts(&mut self, index: usize, unscaled: Option<(i128, u128)>) -> Result<(), crate::PluginError> {
        let c = self.column_where(index, "256-bit decimals", |t| matches!(t, ColumnType::Decimal256 { .. }));
        Self::push_decimal_words(c, unscaled.map(|(high, low)| decimal::words_of_parts(high, low)))
    }

    fn push_decimal_words(c: &mut Column, words: Option<[u64; 4]>) -> Result<(), crate::PluginError> {
        let precision = match c.ty {
            ColumnType::Decimal256 { precision, .. } => precision.min(76) as u32,
            _ => 76,
        };
        let w = words.unwrap_or([0; 4]);
        if !decimal::fits_precision(&w, precision) {
            let value = crate::Decimal { words: w, scale: 0 };
            return Err(crate::PluginError::invalid_argument(format!("{} has more than {} digits ({})", value, precision, c.ty.format())));
        }
        for word in w.iter() {
            c.values.extend_from_slice(&word.to_le_bytes());
        }
        Self::set_valid(c, words.is_some());
        Ok(())
    }

    /// A null into any column, whatever its type.
    pub fn push_null(&mut self, index: usize) {
        let c = self.column_where(index, "nulls", |_| true);
        match c.ty {
            ColumnType::Null => {}
            ColumnType::Bool => {
                let byte = (c.count / 8) as usize;
                if c.values.len() <= byte { c.values.resize(byte + 1, 0); }
            }
            ColumnType::Utf8 | ColumnType::Binary => {
                let end = *c.offsets.last().unwrap_or(&0);
                c.offsets.push(end);
            }
            t => {
                let width = t.width();
                c.values.resize(c.values.len() + width, 0);
            }
        }
        Self::set_valid(c, false);
    }

    pub fn push_f64(&mut self, index: usize, value: Option<f64>) {
        let c = self.column(index, ColumnType::Float64);
        c.values.extend_from_slice(&value.unwrap_or(0.0).to_le_bytes());
        Self::set_valid(c, value.is_some());
    }

    /// Text; a string longer than the 2 GiB a utf8 column holds in all is an error.
    pub fn push_str(&mut self, index: usize, value: Option<&str>) -> Result<(), crate::PluginError> {
        let c = self.column(index, ColumnType::Utf8);
        Self::push_variable(c, value.map(|s| s.as_bytes()))
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
    if c.ty == ColumnType::Null {
        let mut array = ArrowArray::empty();
        fill(&mut array, rows, rows, Box::new(Owned { buffers: Vec::new(), _storage: Vec::new(), children: Vec::new() }));
        return array;
    }
    let mut storage = Vec::new();
    let validity = if c.nulls > 0 { let mut v = c.validity; v.resize(((rows + 7) / 8) as usize, 0); Some(v) } else { None };
    let mut buffers: Vec<*const c_void> = Vec::new();
    match validity {
        Some(v) => { buffers.push(v.as_ptr() as *const c_void); storage.push(v); }
        None => buffers.push(ptr::null()),
    }
    if c.ty == ColumnType::Utf8 || c.ty == ColumnType::Binary {
        let offsets: Vec<u8> = c.offsets.iter().flat_map(|o| o.to_le_bytes()).collect();
        buffers.push(offsets.as_ptr() as *const c_void);
        storage.push(offsets);
    }
    let mut values = c.values;
    if c.ty == ColumnType::Bool { values.resize(((rows + 7) / 8) as usize, 0); }
    if values.is_empty() { values.push(0); }  // a valid pointer even for zero rows
    buffers.push(values.as_ptr() as *const c_void);
    storage.push(values);
    let mut array = ArrowArray::empty();
    fill(&mut array, rows, c.nulls, Box::new(Owned { buffers, _storage: storage, children: Vec::new() }));
    array
}

fn is_decimal(t: ColumnType) -> bool {
    matches!(t, ColumnType::Decimal128 { .. } | ColumnType::Decimal256 { .. })
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
        let format = CString::new(field.ty.format()).unwrap_or_default();
        let child = ArrowSchema { format: format.as_ptr(), name: name.as_ptr(), metadata: ptr::null(),
                                  flags: ARROW_FLAG_NULLABLE, n_children: 0, children: ptr::null_mut(), dictionary: ptr::null_mut(),
                                  release: Some(release_schema),
                                  private_data: Box::into_raw(Box::new(OwnedSchema { _strings: vec![format], children: Vec::new() })) as *mut c_void };
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
