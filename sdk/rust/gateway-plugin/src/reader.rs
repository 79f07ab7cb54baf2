//! Reads the batches the host hands to sinks, formats and exporters: the schema is copied and
//! checked once (`Schema`), each batch is checked against it before a byte of it is read
//! (`BatchView`), and from then on every read is a bounds-checked slice access.
//!
//! The C data interface carries no buffer sizes, so what can be checked is the structure:
//! buffer and children counts, lengths and offsets that are non-negative and do not overflow,
//! nulls only with a bitmap, variable-width offsets that start at 0 or more, never go
//! backwards, and UTF-8 text. The buffers are then taken to be as long as that structure says
//! (the header's promise); a producer that lies about a length cannot be caught in-process.

use crate::abi::{ArrowArray, ArrowSchema, ARROW_FLAG_NULLABLE};
use crate::decimal::{words_of_i128, Decimal};
use crate::{ColumnType, PluginError, TimeUnit};
use std::ffi::CStr;
use std::fmt::Write;
use std::os::raw::c_void;

/// One column of a batch schema as the host described it.
#[derive(Debug, Clone, PartialEq)]
pub struct SchemaField {
    pub name: String,
    /// A timestamp with any zone is `TimestampUtc` (its values are instants, whatever the
    /// zone's name); one without a zone is `Timestamp`.
    pub ty: ColumnType,
    /// The zone of a timestamp column ("UTC", "Europe/Paris"), None without one.
    pub timezone: Option<String>,
    pub nullable: bool,
    /// The Arrow format string as given ("tsu:UTC", "d:40,2,256").
    pub format: String,
}

/// The columns every batch of a stream has, copied out of the host's `ArrowSchema` (which
/// is borrowed for the duration of `begin` only).
#[derive(Debug, Clone, PartialEq)]
pub struct Schema {
    pub fields: Vec<SchemaField>,
}

fn invalid(message: String) -> PluginError {
    PluginError::invalid_argument(format!("invalid Arrow data: {}", message))
}

/// A column type from its Arrow format string, with its zone; None for a type the ABI does
/// not name.
pub fn parse_format(format: &str) -> Option<(ColumnType, Option<String>)> {
    let plain = match format {
        "n" => Some(ColumnType::Null),
        "b" => Some(ColumnType::Bool),
        "c" => Some(ColumnType::Int8),
        "s" => Some(ColumnType::Int16),
        "i" => Some(ColumnType::Int32),
        "l" => Some(ColumnType::Int64),
        "C" => Some(ColumnType::UInt8),
        "S" => Some(ColumnType::UInt16),
        "I" => Some(ColumnType::UInt32),
        "L" => Some(ColumnType::UInt64),
        "f" => Some(ColumnType::Float32),
        "g" => Some(ColumnType::Float64),
        "u" => Some(ColumnType::Utf8),
        "z" => Some(ColumnType::Binary),
        "tdD" => Some(ColumnType::Date32),
        "tdm" => Some(ColumnType::Date64),
        _ => None,
    };
    if let Some(t) = plain {
        return Some((t, None));
    }
    if let Some(rest) = format.strip_prefix("ts") {
        let mut chars = rest.chars();
        let unit = match chars.next() {
            Some('s') => TimeUnit::Second,
            Some('m') => TimeUnit::Milli,
            Some('u') => TimeUnit::Micro,
            Some('n') => TimeUnit::Nano,
            _ => return None,
        };
        let zone = chars.as_str().strip_prefix(':')?;
        return Some(if zone.is_empty() { (ColumnType::Timestamp(unit), None) } else { (ColumnType::TimestampUtc(unit), Some(zone.to_string())) });
    }
    let rest = format.strip_prefix("d:")?;
    let parts: Vec<&str> = rest.split(',').collect();
    if parts.len() < 2 || parts.len() > 3 {
        return None;
    }
    let precision: u8 = parts[0].parse().ok()?;
    let scale: i8 = parts[1].parse().ok()?;
    let bits = if parts.len() == 3 { parts[2] } else { "128" };
    // A scale beyond the precision is valid Arrow, but |scale| is bounded so text stays sane.
    if precision == 0 || !(-76..=76).contains(&scale) {
        return None;
    }
    match bits {
        "128" if precision <= 38 => Some((ColumnType::Decimal128 { precision, scale }, None)),
        "256" if precision <= 76 => Some((ColumnType::Decimal256 { precision, scale }, None)),
        _ => None,
    }
}

/// A NUL-terminated string from the host, or "" for a null pointer.
///
/// # Safety
/// `p` is null or points to a NUL-terminated string that outlives the call.
unsafe fn text(p: *const std::os::raw::c_char) -> String {
    if p.is_null() { String::new() } else { CStr::from_ptr(p).to_string_lossy().into_owned() }
}

impl Schema {
    /// Checks and copies a batch schema: a struct ("+s") whose children are columns of the
    /// types the ABI names, each without children or dictionary.
    ///
    /// # Safety
    /// `schema` is null or points to an `ArrowSchema` valid for the call, as the host's
    /// `begin` argument is (its strings NUL-terminated, `n_children` children pointers).
    pub unsafe fn from_raw(schema: *const ArrowSchema) -> Result<Schema, PluginError> {
        let s = schema.as_ref().ok_or_else(|| invalid("no schema".to_string()))?;
        if s.release.is_none() {
            return Err(invalid("the schema is already released".to_string()));
        }
        let format = text(s.format);
        if format != "+s" {
            return Err(invalid(format!("a batch schema has format '+s', not '{}'", format)));
        }
        if s.n_children < 0 || (s.n_children > 0 && s.children.is_null()) {
            return Err(invalid(format!("the schema has {} children and no list of them", s.n_children)));
        }
        let mut fields = Vec::new();
        for i in 0..s.n_children as usize {
            let child = (*s.children.add(i)).as_ref().ok_or_else(|| invalid(format!("schema child {} is missing", i)))?;
            let name = text(child.name);
            if child.format.is_null() {
                return Err(invalid(format!("column {} ('{}') has no format", i, name)));
            }
            let format = text(child.format);
            let (ty, timezone) = parse_format(&format).ok_or_else(|| PluginError::new(crate::abi::GW_UNSUPPORTED,
                format!("column {} ('{}') has Arrow type '{}', which gateway_plugin.h does not name", i, name, format)))?;
            if child.n_children != 0 || !child.dictionary.is_null() {
                return Err(invalid(format!("column '{}' has children or a dictionary, which type '{}' does not", name, format)));
            }
            fields.push(SchemaField { name, ty, timezone, nullable: child.flags & ARROW_FLAG_NULLABLE != 0, format });
        }
        Ok(Schema { fields })
    }

    pub fn len(&self) -> usize {
        self.fields.len()
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// The position of the column named `name`.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.fields.iter().position(|f| f.name == name)
    }
}

/// How a column's bytes are laid out, as checked slices borrowed from the batch.
#[derive(Clone, Copy)]
enum Data<'a> {
    Null,
    /// Bits from the buffer's start (`offset` included).
    Bits(&'a [u8]),
    /// `width` bytes a value from the buffer's start (`offset` included).
    Fixed(&'a [u8], usize),
    /// `length + 1` offsets from the array's offset on, as little-endian bytes, and the data
    /// bytes from the first offset to the last.
    Variable { offsets: &'a [u8], data: &'a [u8], base: i32 },
}

/// A read-only, checked view of one column of a batch, valid while the batch is.
#[derive(Clone, Copy)]
pub struct ColumnView<'a> {
    field: &'a SchemaField,
    length: usize,
    offset: usize,
    validity: Option<&'a [u8]>,
    data: Data<'a>,
}

/// A value read from a column; `Utf8` and `Binary` borrow the batch's bytes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    Null,
    Bool(bool),
    /// int8 to int64.
    Int(i64),
    /// uint8 to uint64.
    UInt(u64),
    /// float64.
    Float(f64),
    /// float32 as stored, so text shows its own shortest digits (0.1f32 is "0.1").
    Float32(f32),
    Utf8(&'a str),
    Binary(&'a [u8]),
    /// Days since 1970-01-01.
    Date32(i32),
    /// Milliseconds since 1970-01-01.
    Date64(i64),
    /// Units since 1970-01-01 (UTC when `zoned`; a wall-clock reading otherwise).
    Timestamp { value: i64, unit: TimeUnit, zoned: bool },
    Decimal(Decimal),
}

/// Reads a little-endian value of `N` bytes at `at` in `bytes`; the caller checked the range.
fn le<const N: usize>(bytes: &[u8], at: usize) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(&bytes[at..at + N]);
    out
}

/// `count` bytes from `p` as a slice, after the range was checked to be describable.
///
/// # Safety
/// `p` is non-null and `count` bytes from it are readable and unchanged while 'a lives: the
/// producer's promise for a buffer of the length its array declares, checked by the caller
/// as far as it can be.
unsafe fn slice<'a>(p: *const c_void, count: usize) -> &'a [u8] {
    std::slice::from_raw_parts(p as *const u8, count)
}

impl<'a> ColumnView<'a> {
    /// Checks `array` against `field` and the batch's `length` before reading anything.
    ///
    /// # Safety
    /// `array` is valid for 'a and its buffers are as long as its length, offset and type say.
    unsafe fn new(field: &'a SchemaField, array: &'a ArrowArray, length: usize) -> Result<ColumnView<'a>, PluginError> {
        let what = |m: String| invalid(format!("column '{}' {}", field.name, m));
        if array.release.is_none() {
            return Err(what("is already released".to_string()));
        }
        if array.length < 0 || array.offset < 0 || array.offset > i64::MAX - array.length {
            return Err(what(format!("has length {} at offset {}", array.length, array.offset)));
        }
        if array.length as u64 != length as u64 {
            return Err(what(format!("has length {}, the batch {}", array.length, length)));
        }
        if array.null_count < -1 || array.null_count > array.length {
            return Err(what(format!("has null_count {} for {} rows", array.null_count, array.length)));
        }
        let buffers = field.ty.buffer_count();
        if array.n_buffers != buffers as i64 {
            return Err(what(format!("has {} buffers, type '{}' has {}", array.n_buffers, field.format, buffers)));
        }
        if array.n_children != 0 || !array.dictionary.is_null() {
            return Err(what(format!("has children or a dictionary, which type '{}' does not", field.format)));
        }
        let offset = usize::try_from(array.offset).map_err(|_| what("has an offset beyond memory".to_string()))?;
        let mut view = ColumnView { field, length, offset, validity: None, data: Data::Null };
        if field.ty == ColumnType::Null || length == 0 {
            return Ok(view);
        }
        if array.buffers.is_null() {
            return Err(what("has no buffer list".to_string()));
        }
        // Rows (and bits) the reads reach from the buffers' start; every size below is
        // computed checked and kept under isize::MAX, as a slice requires.
        let end = offset.checked_add(length).filter(|&e| e < isize::MAX as usize / 32)
            .ok_or_else(|| what("has more rows than memory can hold".to_string()))?;
        let bitmap_bytes = end / 8 + usize::from(end % 8 != 0);
        let validity = *array.buffers;
        if array.null_count != 0 {
            if validity.is_null() {
                if array.null_count > 0 {
                    return Err(what(format!("has {} nulls and no validity bitmap", array.null_count)));
                }
            } else {
                view.validity = Some(slice(validity, bitmap_bytes));
            }
        }
        let values = *array.buffers.add(1);
        match field.ty {
            ColumnType::Utf8 | ColumnType::Binary => {
                if values.is_null() {
                    return Err(what("has no offsets buffer".to_string()));
                }
                let offsets = slice(values, (end + 1) * 4).get(offset * 4..).unwrap_or(&[]);
                let at = |i: usize| i32::from_le_bytes(le::<4>(offsets, i * 4));
                let first = at(0);
                if first < 0 {
                    return Err(what(format!("has a negative first offset ({})", first)));
                }
                let mut previous = first;
                for row in 0..length {
                    let next = at(row + 1);
                    if next < previous {
                        return Err(what(format!("has offsets going backwards at row {} ({} then {})", row, previous, next)));
                    }
                    previous = next;
                }
                let bytes = (previous - first) as usize;
                let data_buffer = *array.buffers.add(2);
                let data = if bytes == 0 {
                    &[][..]
                } else if data_buffer.is_null() {
                    return Err(what(format!("has no data buffer, and its offsets reach byte {}", previous)));
                } else {
                    slice((data_buffer as *const u8).add(first as usize) as *const c_void, bytes)
                };
                if field.ty == ColumnType::Utf8 {
                    for row in 0..length {
                        let range = (at(row) - first) as usize..(at(row + 1) - first) as usize;
                        if let Err(e) = std::str::from_utf8(&data[range]) {
                            return Err(what(format!("has text that is not UTF-8 at row {} ({})", row, e)));
                        }
                    }
                }
                view.data = Data::Variable { offsets, data, base: first };
            }
            ty => {
                if values.is_null() {
                    return Err(what("has no values buffer".to_string()));
                }
                view.data = match ty.byte_width() {
                    Some(width) => Data::Fixed(slice(values, end * width), width),
                    None => Data::Bits(slice(values, bitmap_bytes)),
                };
            }
        }
        Ok(view)
    }

    pub fn field(&self) -> &'a SchemaField {
        self.field
    }

    pub fn name(&self) -> &'a str {
        &self.field.name
    }

    pub fn ty(&self) -> ColumnType {
        self.field.ty
    }

    pub fn len(&self) -> usize {
        self.length
    }

    pub fn is_empty(&self) -> bool {
        self.length == 0
    }

    fn check_row(&self, row: usize) {
        assert!(row < self.length, "row {} of column '{}', which has {} rows", row, self.field.name, self.length);
    }

    /// Whether the value at `row` is null. Panics when `row` is not below `len()`, like a
    /// slice index (the SDK's entry points turn a panic into an error).
    pub fn is_null(&self, row: usize) -> bool {
        self.check_row(row);
        if let Data::Null = self.data {
            return true;
        }
        match self.validity {
            Some(bits) => {
                let i = self.offset + row;
                bits[i / 8] & (1 << (i % 8)) == 0
            }
            None => false,
        }
    }

    /// The value at `row` (panics when `row` is not below `len()`).
    pub fn value(&self, row: usize) -> Value<'a> {
        if self.is_null(row) {
            return Value::Null;
        }
        let i = self.offset + row;
        match self.data {
            Data::Null => Value::Null,
            Data::Bits(bits) => Value::Bool(bits[i / 8] & (1 << (i % 8)) != 0),
            Data::Fixed(bytes, width) => {
                let at = i * width;
                match self.field.ty {
                    ColumnType::Int8 => Value::Int(i8::from_le_bytes(le::<1>(bytes, at)) as i64),
                    ColumnType::Int16 => Value::Int(i16::from_le_bytes(le::<2>(bytes, at)) as i64),
                    ColumnType::Int32 => Value::Int(i32::from_le_bytes(le::<4>(bytes, at)) as i64),
                    ColumnType::Int64 => Value::Int(i64::from_le_bytes(le::<8>(bytes, at))),
                    ColumnType::UInt8 => Value::UInt(bytes[at] as u64),
                    ColumnType::UInt16 => Value::UInt(u16::from_le_bytes(le::<2>(bytes, at)) as u64),
                    ColumnType::UInt32 => Value::UInt(u32::from_le_bytes(le::<4>(bytes, at)) as u64),
                    ColumnType::UInt64 => Value::UInt(u64::from_le_bytes(le::<8>(bytes, at))),
                    ColumnType::Float32 => Value::Float32(f32::from_le_bytes(le::<4>(bytes, at))),
                    ColumnType::Float64 => Value::Float(f64::from_le_bytes(le::<8>(bytes, at))),
                    ColumnType::Date32 => Value::Date32(i32::from_le_bytes(le::<4>(bytes, at))),
                    ColumnType::Date64 => Value::Date64(i64::from_le_bytes(le::<8>(bytes, at))),
                    ColumnType::Timestamp(unit) => Value::Timestamp { value: i64::from_le_bytes(le::<8>(bytes, at)), unit, zoned: false },
                    ColumnType::TimestampUtc(unit) => Value::Timestamp { value: i64::from_le_bytes(le::<8>(bytes, at)), unit, zoned: true },
                    ColumnType::Decimal128 { scale, .. } => {
                        Value::Decimal(Decimal { words: words_of_i128(i128::from_le_bytes(le::<16>(bytes, at))), scale: scale as i32 })
                    }
                    ColumnType::Decimal256 { scale, .. } => {
                        let mut words = [0u64; 4];
                        for (k, w) in words.iter_mut().enumerate() {
                            *w = u64::from_le_bytes(le::<8>(bytes, at + k * 8));
                        }
                        Value::Decimal(Decimal { words, scale: scale as i32 })
                    }
                    _ => Value::Null,
                }
            }
            Data::Variable { offsets, data, base } => {
                let at = |k: usize| (i32::from_le_bytes(le::<4>(offsets, k * 4)) - base) as usize;
                let bytes = &data[at(row)..at(row + 1)];
                if self.field.ty == ColumnType::Utf8 {
                    // Checked when the view was made; a second check keeps this free of unsafe.
                    Value::Utf8(std::str::from_utf8(bytes).unwrap_or(""))
                } else {
                    Value::Binary(bytes)
                }
            }
        }
    }

    /// A signed integer, date (days or ms) or timestamp (in its unit); None for a null or
    /// another type.
    pub fn i64(&self, row: usize) -> Option<i64> {
        match self.value(row) {
            Value::Int(v) | Value::Date64(v) => Some(v),
            Value::Date32(v) => Some(v as i64),
            Value::Timestamp { value, .. } => Some(value),
            _ => None,
        }
    }

    /// An unsigned integer; None for a null or another type.
    pub fn u64(&self, row: usize) -> Option<u64> {
        match self.value(row) {
            Value::UInt(v) => Some(v),
            _ => None,
        }
    }

    /// A float32 (widened exactly) or float64; None for a null or another type.
    pub fn f64(&self, row: usize) -> Option<f64> {
        match self.value(row) {
            Value::Float(v) => Some(v),
            Value::Float32(v) => Some(v as f64),
            _ => None,
        }
    }

    pub fn bool(&self, row: usize) -> Option<bool> {
        match self.value(row) {
            Value::Bool(v) => Some(v),
            _ => None,
        }
    }

    /// Text of a utf8 column, borrowed from the batch.
    pub fn str(&self, row: usize) -> Option<&'a str> {
        match self.value(row) {
            Value::Utf8(v) => Some(v),
            _ => None,
        }
    }

    /// Bytes of a binary or utf8 column, borrowed from the batch.
    pub fn bytes(&self, row: usize) -> Option<&'a [u8]> {
        match self.value(row) {
            Value::Binary(v) => Some(v),
            Value::Utf8(v) => Some(v.as_bytes()),
            _ => None,
        }
    }

    /// A decimal128 or decimal256 value, exact.
    pub fn decimal(&self, row: usize) -> Option<Decimal> {
        match self.value(row) {
            Value::Decimal(d) => Some(d),
            _ => None,
        }
    }

    /// Appends the value as text (nothing for a null); see [`Value::write_text`].
    pub fn write_text(&self, row: usize, out: &mut String) {
        self.value(row).write_text(out)
    }

    /// Appends the value as JSON; see [`Value::write_json`].
    pub fn write_json(&self, row: usize, out: &mut String) {
        self.value(row).write_json(out)
    }
}

/// A batch checked against its schema: one [`ColumnView`] per column.
pub struct BatchView<'a> {
    schema: &'a Schema,
    length: usize,
    columns: Vec<ColumnView<'a>>,
    first_row: i64,
}

impl<'a> BatchView<'a> {
    /// Checks `batch` (a struct array whose children are the columns of `schema`) before any
    /// of its values is read: its length, offset and children, then every column (see
    /// [`ColumnView`]). An error names what is wrong; nothing is read out of bounds.
    ///
    /// # Safety
    /// `batch` is null or points to an `ArrowArray` valid for 'a whose buffers are as long as
    /// its lengths, offsets and types say: what the host promises of a borrowed batch.
    pub unsafe fn from_raw(schema: &'a Schema, batch: *const ArrowArray) -> Result<BatchView<'a>, PluginError> {
        let a = batch.as_ref().ok_or_else(|| invalid("no batch".to_string()))?;
        if a.release.is_none() {
            return Err(invalid("the batch is already released".to_string()));
        }
        if a.length < 0 {
            return Err(invalid(format!("the batch has length {}", a.length)));
        }
        if a.null_count > 0 {
            return Err(invalid("a batch's rows cannot be null".to_string()));
        }
        if a.offset != 0 {
            return Err(invalid(format!("the batch has offset {} (0 expected)", a.offset)));
        }
        if !a.dictionary.is_null() {
            return Err(invalid("a batch has no dictionary".to_string()));
        }
        if a.n_children != schema.fields.len() as i64 {
            return Err(invalid(format!("the batch has {} columns, its schema {}", a.n_children, schema.fields.len())));
        }
        if a.n_children > 0 && a.children.is_null() {
            return Err(invalid("the batch has no list of columns".to_string()));
        }
        let length = usize::try_from(a.length).map_err(|_| invalid("the batch is longer than memory".to_string()))?;
        let mut columns = Vec::with_capacity(schema.fields.len());
        for (i, field) in schema.fields.iter().enumerate() {
            let child = (*a.children.add(i)).as_ref().ok_or_else(|| invalid(format!("column {} ('{}') is missing", i, field.name)))?;
            columns.push(ColumnView::new(field, child, length)?);
        }
        Ok(BatchView { schema, length, columns, first_row: 0 })
    }

    /// The same view, its rows counted from `first_row` in the stream.
    pub(crate) fn starting_at(mut self, first_row: i64) -> BatchView<'a> {
        self.first_row = first_row;
        self
    }

    pub fn schema(&self) -> &'a Schema {
        self.schema
    }

    /// Rows in the batch.
    pub fn len(&self) -> usize {
        self.length
    }

    pub fn is_empty(&self) -> bool {
        self.length == 0
    }

    pub fn columns(&self) -> &[ColumnView<'a>] {
        &self.columns
    }

    /// The column at `index` (panics beyond the schema's columns, like a slice index).
    pub fn column(&self, index: usize) -> &ColumnView<'a> {
        &self.columns[index]
    }

    pub fn column_named(&self, name: &str) -> Option<&ColumnView<'a>> {
        self.columns.iter().find(|c| c.name() == name)
    }

    /// Where this batch's row 0 lies in the stream since `begin` (the row number a sink
    /// reports to `Host::reject_row`); 0 for a view made with `from_raw`.
    pub fn first_row(&self) -> i64 {
        self.first_row
    }

    /// Row `row` as a JSON object of its columns, keys in the schema's order.
    pub fn write_row_json(&self, row: usize, out: &mut String) {
        out.push('{');
        for (i, column) in self.columns.iter().enumerate() {
            if i > 0 { out.push(','); }
            write_json_string(column.name(), out);
            out.push(':');
            column.write_json(row, out);
        }
        out.push('}');
    }
}

impl<'a> Value<'a> {
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// Appends the value as text, as the C SDK's gw_append_value does: integers and decimals
    /// in plain notation (decimals exact, with their scale's digits), floats in the fewest
    /// digits that read back the same ("NaN", "Infinity", "-Infinity"), true/false, dates
    /// YYYY-MM-DD, timestamps YYYY-MM-DDTHH:MM:SS with the unit's fraction when it is not
    /// zero and a Z when the column has a zone, binary as lower-case hex, nothing for a null.
    pub fn write_text(&self, out: &mut String) {
        match *self {
            Value::Null => {}
            Value::Bool(b) => out.push_str(if b { "true" } else { "false" }),
            Value::Int(v) => { let _ = write!(out, "{}", v); }
            Value::UInt(v) => { let _ = write!(out, "{}", v); }
            Value::Float(v) => write_float(v, false, out),
            Value::Float32(v) => write_float32(v, false, out),
            Value::Utf8(s) => out.push_str(s),
            Value::Binary(bytes) => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                for b in bytes {
                    out.push(HEX[(b >> 4) as usize] as char);
                    out.push(HEX[(b & 15) as usize] as char);
                }
            }
            Value::Date32(days) => write_date(days as i64, out),
            Value::Date64(ms) => write_date(ms.div_euclid(86_400_000), out),
            Value::Timestamp { value, unit, zoned } => {
                write_timestamp(value, unit, out);
                if zoned { out.push('Z'); }
            }
            Value::Decimal(d) => { let _ = write!(out, "{}", d); }
        }
    }

    /// Appends the value as JSON: the text above, with strings, dates and timestamps quoted,
    /// decimals as exact JSON numbers, nulls and non-finite floats as null, binary as an
    /// array of bytes (as the host's own JSON writes them).
    pub fn write_json(&self, out: &mut String) {
        match *self {
            Value::Null => out.push_str("null"),
            Value::Float(v) => write_float(v, true, out),
            Value::Float32(v) => write_float32(v, true, out),
            Value::Utf8(s) => write_json_string(s, out),
            Value::Binary(bytes) => {
                out.push('[');
                for (i, b) in bytes.iter().enumerate() {
                    if i > 0 { out.push(','); }
                    let _ = write!(out, "{}", b);
                }
                out.push(']');
            }
            Value::Date32(_) | Value::Date64(_) | Value::Timestamp { .. } => {
                out.push('"');
                self.write_text(out);
                out.push('"');
            }
            _ => self.write_text(out),
        }
    }

    /// The value as text (empty for a null).
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        self.write_text(&mut s);
        s
    }

    /// The value as JSON.
    pub fn to_json(&self) -> String {
        let mut s = String::new();
        self.write_json(&mut s);
        s
    }
}

/// Appends `s` as a JSON string, escaping quotes, backslashes and control characters.
pub fn write_json_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => { let _ = write!(out, "\\u{:04x}", c as u32); }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Rust's shortest round-trip digits, in exponent form outside [1e-6, 1e16) so a huge value
/// does not print hundreds of zeros; both forms are valid JSON numbers.
fn write_float(v: f64, json: bool, out: &mut String) {
    if !v.is_finite() {
        out.push_str(if json { "null" } else if v.is_nan() { "NaN" } else if v > 0.0 { "Infinity" } else { "-Infinity" });
    } else if v != 0.0 && (v.abs() >= 1e16 || v.abs() < 1e-6) {
        let _ = write!(out, "{:e}", v);
    } else {
        let _ = write!(out, "{}", v);
    }
}

fn write_float32(v: f32, json: bool, out: &mut String) {
    if !v.is_finite() {
        write_float(v as f64, json, out);
    } else if v != 0.0 && (v.abs() >= 1e16 || v.abs() < 1e-6) {
        let _ = write!(out, "{:e}", v);
    } else {
        let _ = write!(out, "{}", v);
    }
}

/// Days since 1970-01-01 as YYYY-MM-DD (H. Hinnant's civil_from_days), for any i64: far
/// dates are first moved by whole 400-year cycles so nothing overflows.
fn write_date(days: i64, out: &mut String) {
    const CYCLE: i64 = 146_097;
    let cycles = days.div_euclid(CYCLE);
    let z = days.rem_euclid(CYCLE) + 719_468;
    let era = z / CYCLE;
    let doe = z - era * CYCLE;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe as i128 + era as i128 * 400 + cycles as i128 * 400 + i128::from(m <= 2);
    if y < 0 {
        let _ = write!(out, "-{:04}-{:02}-{:02}", -y, m, d);
    } else {
        let _ = write!(out, "{:04}-{:02}-{:02}", y, m, d);
    }
}

fn write_timestamp(value: i64, unit: TimeUnit, out: &mut String) {
    let (per_second, digits) = match unit {
        TimeUnit::Second => (1i64, 0usize),
        TimeUnit::Milli => (1_000, 3),
        TimeUnit::Micro => (1_000_000, 6),
        TimeUnit::Nano => (1_000_000_000, 9),
    };
    let seconds = value.div_euclid(per_second);
    let fraction = value.rem_euclid(per_second);
    write_date(seconds.div_euclid(86_400), out);
    let second_of_day = seconds.rem_euclid(86_400);
    let _ = write!(out, "T{:02}:{:02}:{:02}", second_of_day / 3600, second_of_day / 60 % 60, second_of_day % 60);
    if fraction != 0 {
        let _ = write!(out, ".{:0width$}", fraction, width = digits);
    }
}
