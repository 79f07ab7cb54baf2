//! The column reader: every type the builder makes, read back through the C structs as the
//! host would hand them over (values, nulls, text, JSON); hand-made broken arrays, each
//! refused with a message before any read; decimal256 built and read exactly.
use gateway_plugin::abi::{ArrowArray, ArrowSchema};
use gateway_plugin::{export_schema, BatchBuilder, BatchView, ColumnType, Decimal, Field, Schema, TimeUnit, Value};
use std::os::raw::{c_char, c_void};
use std::ptr;

/// A batch exported by the builder with its schema, released when dropped.
struct Exported {
    schema: ArrowSchema,
    array: ArrowArray,
}

impl Exported {
    fn new(fields: &[Field], batch: BatchBuilder) -> Exported {
        let mut e = Exported { schema: ArrowSchema::empty(), array: ArrowArray::empty() };
        export_schema(fields, &mut e.schema);
        batch.export(&mut e.array);
        e
    }

    fn schema(&self) -> Schema {
        unsafe { Schema::from_raw(&self.schema) }.expect("the builder's schema reads")
    }

    /// Column `i` of the array, to break it by hand.
    fn child(&mut self, i: usize) -> &mut ArrowArray {
        unsafe { &mut **self.array.children.add(i) }
    }
}

impl Drop for Exported {
    fn drop(&mut self) {
        unsafe {
            if let Some(r) = self.array.release { r(&mut self.array) }
            if let Some(r) = self.schema.release { r(&mut self.schema) }
        }
    }
}

fn every_type() -> Vec<Field> {
    vec![
        Field::new("null", ColumnType::Null),
        Field::new("b", ColumnType::Bool),
        Field::new("i8", ColumnType::Int8),
        Field::new("i16", ColumnType::Int16),
        Field::new("i32", ColumnType::Int32),
        Field::new("i64", ColumnType::Int64),
        Field::new("u8", ColumnType::UInt8),
        Field::new("u16", ColumnType::UInt16),
        Field::new("u32", ColumnType::UInt32),
        Field::new("u64", ColumnType::UInt64),
        Field::new("f32", ColumnType::Float32),
        Field::new("f64", ColumnType::Float64),
        Field::new("text", ColumnType::Utf8),
        Field::new("bin", ColumnType::Binary),
        Field::new("day", ColumnType::Date32),
        Field::new("ms", ColumnType::Date64),
        Field::new("wall", ColumnType::Timestamp(TimeUnit::Micro)),
        Field::new("utc_s", ColumnType::TimestampUtc(TimeUnit::Second)),
        Field::new("utc_ms", ColumnType::TimestampUtc(TimeUnit::Milli)),
        Field::new("utc_ns", ColumnType::TimestampUtc(TimeUnit::Nano)),
        Field::new("d128", ColumnType::Decimal128 { precision: 38, scale: 4 }),
        Field::new("d256", ColumnType::Decimal256 { precision: 76, scale: 10 }),
    ]
}

/// Row 0 holds ordinary values, row 1 a null in every column, row 2 the extremes.
fn every_type_batch() -> Exported {
    let fields = every_type();
    let mut b = BatchBuilder::new(&fields);
    // Row 0.
    b.push_null(0);
    b.push_bool(1, Some(true));
    for (i, v) in [(2, -5i128), (3, -300), (4, 70_000), (5, -9_000_000_000), (6, 200), (7, 60_000), (8, 4_000_000_000), (9, 5)] {
        b.push_int(i, Some(v)).unwrap();
    }
    b.push_f32(10, Some(0.1));
    b.push_f64(11, Some(-2.5));
    b.push_str(12, Some("héllo \"q\"\n")).unwrap();
    b.push_bytes(13, Some(&[0, 15, 255])).unwrap();
    b.push_int(14, Some(19_723)).unwrap();  // 2024-01-01
    b.push_int(15, Some(1_704_067_200_000)).unwrap();
    b.push_int(16, Some(1_704_067_200_000_001)).unwrap();
    b.push_int(17, Some(-1)).unwrap();
    b.push_int(18, Some(1_500)).unwrap();
    b.push_int(19, Some(1_000_000_123)).unwrap();
    b.push_decimal_text(20, Some("-12.5")).unwrap();
    b.push_decimal_text(21, Some("123456789012345678901234567890123456789012345678901234567890.0000000001")).unwrap();
    b.end_row();
    // Row 1: nulls.
    for i in 0..fields.len() {
        b.push_null(i);
    }
    b.end_row();
    // Row 2: extremes.
    b.push_null(0);
    b.push_bool(1, Some(false));
    for (i, v) in [(2, i8::MIN as i128), (3, i16::MAX as i128), (4, i32::MIN as i128), (5, i64::MIN as i128), (6, 255), (7, 65_535),
                   (8, u32::MAX as i128), (9, u64::MAX as i128)] {
        b.push_int(i, Some(v)).unwrap();
    }
    b.push_f32(10, Some(f32::NAN));
    b.push_f64(11, Some(f64::NEG_INFINITY));
    b.push_str(12, Some("")).unwrap();
    b.push_bytes(13, Some(&[])).unwrap();
    b.push_int(14, Some(-719_528)).unwrap();  // 0000-01-01
    b.push_int(15, Some(-86_400_000)).unwrap();
    b.push_int(16, Some(i64::MAX as i128)).unwrap();
    b.push_int(17, Some(i64::MIN as i128)).unwrap();
    b.push_int(18, Some(0)).unwrap();
    b.push_int(19, Some(-1)).unwrap();
    b.push_decimal(20, Some(-(10i128.pow(38) - 1))).unwrap();
    b.push_decimal256_parts(21, Some((i128::MIN, 0))).unwrap_err();  // -2^255: 77 digits, beyond any precision
    b.push_decimal_text(21, Some(&format!("-{}.{}", "9".repeat(66), "9".repeat(10)))).unwrap();
    b.end_row();
    Exported::new(&fields, b)
}

#[test]
fn every_type_reads_back_as_it_was_built() {
    let batch = every_type_batch();
    let schema = batch.schema();
    assert_eq!(schema.fields.len(), 22);
    assert_eq!(schema.fields[17].ty, ColumnType::TimestampUtc(TimeUnit::Second));
    assert_eq!(schema.fields[17].timezone.as_deref(), Some("UTC"));
    assert_eq!(schema.fields[16].timezone, None);
    assert_eq!(schema.fields[21].format, "d:76,10,256");
    let view = unsafe { BatchView::from_raw(&schema, &batch.array) }.expect("the builder's batch reads");
    assert_eq!(view.len(), 3);

    let texts = |row: usize| -> Vec<String> { view.columns().iter().map(|c| c.value(row).to_text()).collect() };
    let jsons = |row: usize| -> Vec<String> { view.columns().iter().map(|c| c.value(row).to_json()).collect() };
    assert_eq!(texts(0), [
        "", "true", "-5", "-300", "70000", "-9000000000", "200", "60000", "4000000000", "5", "0.1", "-2.5", "héllo \"q\"\n", "000fff",
        "2024-01-01", "2024-01-01", "2024-01-01T00:00:00.000001", "1969-12-31T23:59:59Z", "1970-01-01T00:00:01.500Z",
        "1970-01-01T00:00:01.000000123Z", "-12.5000", "123456789012345678901234567890123456789012345678901234567890.0000000001",
    ]);
    assert_eq!(jsons(0), [
        "null", "true", "-5", "-300", "70000", "-9000000000", "200", "60000", "4000000000", "5", "0.1", "-2.5", r#""héllo \"q\"\n""#,
        "[0,15,255]", r#""2024-01-01""#, r#""2024-01-01""#, r#""2024-01-01T00:00:00.000001""#, r#""1969-12-31T23:59:59Z""#,
        r#""1970-01-01T00:00:01.500Z""#, r#""1970-01-01T00:00:01.000000123Z""#, "-12.5000",
        "123456789012345678901234567890123456789012345678901234567890.0000000001",
    ]);
    for (i, column) in view.columns().iter().enumerate() {
        assert!(column.is_null(1), "column {} row 1", i);
        assert_eq!(column.value(1), Value::Null);
        assert_eq!(column.value(1).to_text(), "");
        assert_eq!(column.value(1).to_json(), "null");
        assert_eq!(column.is_null(0), i == 0, "column {} row 0", i);
    }
    assert_eq!(texts(2)[1..], [
        "false", "-128", "32767", "-2147483648", "-9223372036854775808", "255", "65535", "4294967295", "18446744073709551615", "NaN",
        "-Infinity", "", "", "0000-01-01", "1969-12-31", "294247-01-10T04:00:54.775807", "-292277022657-01-27T08:29:52Z",
        "1970-01-01T00:00:00Z", "1969-12-31T23:59:59.999999999Z", "-9999999999999999999999999999999999.9999",
        &format!("-{}.{}", "9".repeat(66), "9".repeat(10)),
    ]);
    assert_eq!(jsons(2)[10..12], ["null", "null"]);
    assert_eq!(jsons(2)[12..14], [r#""""#, "[]"]);

    // Typed accessors.
    assert_eq!(view.column(5).i64(0), Some(-9_000_000_000));
    assert_eq!(view.column(9).u64(2), Some(u64::MAX));
    assert_eq!(view.column(10).f64(0), Some(0.1f32 as f64));
    assert_eq!(view.column(1).bool(0), Some(true));
    assert_eq!(view.column_named("text").and_then(|c| c.str(0)), Some("héllo \"q\"\n"));
    assert_eq!(view.column(13).bytes(0), Some(&[0u8, 15, 255][..]));
    assert_eq!(view.column(14).i64(0), Some(19_723));
    assert_eq!(view.column(20).decimal(0), Some(Decimal::from_i128(-125_000, 4)));
    assert_eq!(view.column(20).decimal(0).and_then(|d| d.unscaled_i128()), Some(-125_000));
    assert_eq!(view.column(21).decimal(0).and_then(|d| d.unscaled_i128()), None);
    assert_eq!(view.column(5).i64(1), None);

    let mut row = String::new();
    view.write_row_json(0, &mut row);
    assert!(row.starts_with(r#"{"null":null,"b":true,"i8":-5,"#), "{}", row);
    assert!(row.ends_with(r#""d128":-12.5000,"d256":123456789012345678901234567890123456789012345678901234567890.0000000001}"#), "{}", row);
}

#[test]
fn a_column_with_an_offset_reads_from_there() {
    let fields = vec![Field::new("n", ColumnType::Int32), Field::new("s", ColumnType::Utf8), Field::new("b", ColumnType::Bool)];
    let mut b = BatchBuilder::new(&fields);
    for n in 0..20 {
        b.push_int(0, if n % 7 == 3 { None } else { Some(n) }).unwrap();
        b.push_str(1, Some(&format!("s{}", n))).unwrap();
        b.push_bool(2, Some(n % 3 == 0));
        b.end_row();
    }
    let mut batch = Exported::new(&fields, b);
    // A slice of 5 rows from row 9 of each column (the struct itself stays at offset 0).
    batch.array.length = 5;
    for i in 0..3 {
        batch.child(i).offset = 9;
        batch.child(i).length = 5;
        batch.child(i).null_count = -1;  // unknown: the bitmap says
    }
    let schema = batch.schema();
    let view = unsafe { BatchView::from_raw(&schema, &batch.array) }.unwrap();
    let n: Vec<Option<i64>> = (0..5).map(|r| view.column(0).i64(r)).collect();
    assert_eq!(n, [Some(9), None, Some(11), Some(12), Some(13)]);
    let s: Vec<&str> = (0..5).map(|r| view.column(1).str(r).unwrap()).collect();
    assert_eq!(s, ["s9", "s10", "s11", "s12", "s13"]);
    let flags: Vec<bool> = (0..5).map(|r| view.column(2).bool(r).unwrap()).collect();
    assert_eq!(flags, [true, false, false, true, false]);
}

#[test]
#[should_panic(expected = "row 3 of column 'n', which has 3 rows")]
fn a_row_past_the_end_is_a_programming_error() {
    let fields = vec![Field::new("n", ColumnType::Int64)];
    let mut b = BatchBuilder::new(&fields);
    for n in 0..3 {
        b.push_i64(0, Some(n));
        b.end_row();
    }
    let batch = Exported::new(&fields, b);
    let schema = batch.schema();
    let view = unsafe { BatchView::from_raw(&schema, &batch.array) }.unwrap();
    view.column(0).value(3);
}

/// A batch of an int64, a utf8 and a bool column, 4 rows, a null in each: for breaking.
fn sample() -> Exported {
    let fields = vec![Field::new("n", ColumnType::Int64), Field::new("s", ColumnType::Utf8), Field::new("b", ColumnType::Bool)];
    let mut b = BatchBuilder::new(&fields);
    for n in 0..4 {
        b.push_i64(0, if n == 1 { None } else { Some(n) });
        b.push_str(1, if n == 2 { None } else { Some("abc") }).unwrap();
        b.push_bool(2, if n == 3 { None } else { Some(true) });
        b.end_row();
    }
    Exported::new(&fields, b)
}

/// Breaks a fresh sample with `damage` and returns the reader's message.
fn refused(damage: impl FnOnce(&mut Exported)) -> String {
    let mut batch = sample();
    let schema = batch.schema();
    // The list of columns is the builder's own record, which its release walks: kept aside
    // and put back, so damage to it does not reach the release.
    let children: Vec<*mut ArrowArray> = (0..3).map(|i| unsafe { *batch.array.children.add(i) }).collect();
    let list = batch.array.children;
    damage(&mut batch);
    let result = unsafe { BatchView::from_raw(&schema, &batch.array) }.map(|_| ());
    for (i, child) in children.into_iter().enumerate() {
        unsafe { *list.add(i) = child };
    }
    match result {
        Ok(()) => panic!("a broken batch was accepted"),
        Err(e) => e.message,
    }
}

#[test]
fn broken_arrays_are_refused_before_any_read() {
    static BACKWARDS: [i32; 5] = [0, 3, 6, 2, 9];
    static NEGATIVE: [i32; 5] = [-4, 0, 3, 6, 9];
    static NOT_UTF8: [u8; 12] = [b'a', b'b', b'c', 0xff, 0xfe, b'x', b'a', b'b', b'c', b'a', b'b', b'c'];
    let cases: Vec<(&str, Box<dyn FnOnce(&mut Exported)>)> = vec![
        ("the batch has length -1", Box::new(|b| b.array.length = -1)),
        ("the batch has 2 columns, its schema 3", Box::new(|b| b.array.n_children = 2)),
        ("the batch has offset 1", Box::new(|b| b.array.offset = 1)),
        ("a batch's rows cannot be null", Box::new(|b| b.array.null_count = 1)),
        ("the batch is already released", Box::new(|b| b.array.release = None)),
        ("the batch has no list of columns", Box::new(|b| b.array.children = ptr::null_mut())),
        ("column 'n' has length 3, the batch 4", Box::new(|b| b.child(0).length = 3)),
        ("column 'n' has length -4 at offset 0", Box::new(|b| b.child(0).length = -4)),
        ("column 'n' has length 4 at offset -1", Box::new(|b| b.child(0).offset = -1)),
        ("column 'n' has length 4 at offset 9223372036854775807", Box::new(|b| b.child(0).offset = i64::MAX)),
        ("column 'n' has more rows than memory can hold", Box::new(|b| b.child(0).offset = i64::MAX - 4)),
        ("column 'n' has null_count 5 for 4 rows", Box::new(|b| b.child(0).null_count = 5)),
        ("column 'n' has null_count -2 for 4 rows", Box::new(|b| b.child(0).null_count = -2)),
        ("column 'n' has 3 buffers, type 'l' has 2", Box::new(|b| b.child(0).n_buffers = 3)),
        ("column 's' has 2 buffers, type 'u' has 3", Box::new(|b| b.child(1).n_buffers = 2)),
        ("column 'n' has children or a dictionary", Box::new(|b| b.child(0).n_children = 1)),
        ("column 'b' has children or a dictionary", Box::new(|b| { let d: *mut ArrowArray = &mut b.array; b.child(2).dictionary = d; })),
        ("column 'n' has no buffer list", Box::new(|b| b.child(0).buffers = ptr::null_mut())),
        ("column 'n' has 1 nulls and no validity bitmap", Box::new(|b| unsafe { *b.child(0).buffers = ptr::null() })),
        ("column 'n' has no values buffer", Box::new(|b| unsafe { *b.child(0).buffers.add(1) = ptr::null() })),
        ("column 'b' has no values buffer", Box::new(|b| unsafe { *b.child(2).buffers.add(1) = ptr::null() })),
        ("column 's' has no offsets buffer", Box::new(|b| unsafe { *b.child(1).buffers.add(1) = ptr::null() })),
        ("column 's' has no data buffer, and its offsets reach byte 9", Box::new(|b| unsafe { *b.child(1).buffers.add(2) = ptr::null() })),
        ("column 's' has offsets going backwards at row 2 (6 then 2)",
         Box::new(|b| unsafe { *b.child(1).buffers.add(1) = BACKWARDS.as_ptr() as *const c_void })),
        ("column 's' has a negative first offset (-4)",
         Box::new(|b| unsafe { *b.child(1).buffers.add(1) = NEGATIVE.as_ptr() as *const c_void })),
        ("column 's' has text that is not UTF-8 at row 1",
         Box::new(|b| unsafe { *b.child(1).buffers.add(2) = NOT_UTF8.as_ptr() as *const c_void })),
        ("column 'n' is already released", Box::new(|b| b.child(0).release = None)),
        ("column 1 ('s') is missing", Box::new(|b| unsafe { *b.array.children.add(1) = ptr::null_mut() })),
    ];
    for (expected, damage) in cases {
        let message = refused(damage);
        assert!(message.contains(expected), "expected '{}' in '{}'", expected, message);
        assert!(message.starts_with("invalid Arrow data: "), "{}", message);
    }
}

#[test]
fn a_bitmap_is_not_needed_without_nulls_and_zero_rows_need_no_buffers() {
    let mut batch = sample();
    let schema = batch.schema();
    // No nulls claimed, no bitmap: every value is valid.
    for i in 0..3 {
        batch.child(i).null_count = 0;
        unsafe { *batch.child(i).buffers = ptr::null() };
    }
    let view = unsafe { BatchView::from_raw(&schema, &batch.array) }.unwrap();
    assert_eq!(view.column(0).i64(1), Some(0));
    assert!(!view.column(1).is_null(2));
    drop(view);
    // Zero rows: buffers are never looked at.
    batch.array.length = 0;
    for i in 0..3 {
        batch.child(i).length = 0;
        unsafe { *batch.child(i).buffers.add(1) = ptr::null() };
    }
    let view = unsafe { BatchView::from_raw(&schema, &batch.array) }.unwrap();
    assert!(view.is_empty());
}

/// A schema of one child of `format`, as a C producer would write it.
fn schema_of(format: &'static [u8]) -> Result<Schema, String> {
    unsafe extern "C" fn no_release(_: *mut ArrowSchema) {}
    let mut child = ArrowSchema::empty();
    child.format = format.as_ptr() as *const c_char;
    child.name = b"c\0".as_ptr() as *const c_char;
    child.release = Some(no_release);
    let mut children = [&mut child as *mut ArrowSchema];
    let mut parent = ArrowSchema::empty();
    parent.format = b"+s\0".as_ptr() as *const c_char;
    parent.n_children = 1;
    parent.children = children.as_mut_ptr();
    parent.release = Some(no_release);
    unsafe { Schema::from_raw(&parent) }.map_err(|e| e.message)
}

#[test]
fn schemas_take_every_type_the_header_names_and_nothing_else() {
    for (format, ty) in [
        (&b"tsn:Europe/Paris\0"[..], ColumnType::TimestampUtc(TimeUnit::Nano)),
        (b"tsm:\0", ColumnType::Timestamp(TimeUnit::Milli)),
        (b"d:38,0\0", ColumnType::Decimal128 { precision: 38, scale: 0 }),
        (b"d:5,2,128\0", ColumnType::Decimal128 { precision: 5, scale: 2 }),
        (b"d:76,-3,256\0", ColumnType::Decimal256 { precision: 76, scale: -3 }),
        (b"n\0", ColumnType::Null),
    ] {
        assert_eq!(schema_of(format).unwrap().fields[0].ty, ty);
    }
    assert_eq!(schema_of(b"tsn:Europe/Paris\0").unwrap().fields[0].timezone.as_deref(), Some("Europe/Paris"));
    for bad in [&b"d:39,2\0"[..], b"d:77,2,256\0", b"d:0,0\0", b"d:10,2,64\0", b"tsx:\0", b"tsu\0", b"U\0", b"+l\0", b"ttm\0", b"\0"] {
        let message = schema_of(bad).unwrap_err();
        assert!(message.contains("which gateway_plugin.h does not name"), "{}", message);
    }
    let mut not_struct = ArrowSchema::empty();
    not_struct.format = b"l\0".as_ptr() as *const c_char;
    unsafe extern "C" fn no_release(_: *mut ArrowSchema) {}
    not_struct.release = Some(no_release);
    assert!(unsafe { Schema::from_raw(&not_struct) }.unwrap_err().message.contains("a batch schema has format '+s', not 'l'"));
    assert!(unsafe { Schema::from_raw(ptr::null()) }.is_err());
}

#[test]
fn decimal256_is_built_from_text_parts_and_bytes_and_read_exactly() {
    let fields = vec![Field::new("d", ColumnType::Decimal256 { precision: 76, scale: 2 }), Field::new("small", ColumnType::Decimal256 { precision: 5, scale: 0 })];
    let max = "9".repeat(76);
    let mut b = BatchBuilder::new(&fields);
    let rows: Vec<(Box<dyn Fn(&mut BatchBuilder)>, &str)> = vec![
        (Box::new(|b| b.push_decimal_text(0, Some("1.5")).unwrap()), "1.50"),
        (Box::new(|b| b.push_decimal_text(0, Some("-0.01")).unwrap()), "-0.01"),
        (Box::new(|b| b.push_decimal(0, Some(i128::MIN)).unwrap()), "-1701411834604692317316873037158841057.28"),
        (Box::new(|b| b.push_decimal256_parts(0, Some((1, 0))).unwrap()), "3402823669209384634633746074317682114.56"),
        (Box::new(|b| b.push_decimal256_parts(0, Some((-1, 0))).unwrap()), "-3402823669209384634633746074317682114.56"),
        (Box::new(|b| b.push_decimal256_parts(0, Some((-1, u128::MAX))).unwrap()), "-0.01"),
        (Box::new(move |b| b.push_decimal_text(0, Some(&format!("{}.{}", &"9".repeat(74), "99"))).unwrap()), ""),
        (Box::new(|b| {
            let mut bytes = [0u8; 32];
            bytes[0] = 0x39;
            bytes[1] = 0x30;  // 12345
            b.push_decimal256(0, Some(bytes)).unwrap()
        }), "123.45"),
        (Box::new(|b| b.push_decimal_text(0, Some("+0")).unwrap()), "0.00"),
        (Box::new(|b| b.push_decimal_text(0, None).unwrap()), ""),
    ];
    let n = rows.len();
    let mut expected = Vec::new();
    for (i, (push, text)) in rows.into_iter().enumerate() {
        push(&mut b);
        b.push_decimal_text(1, Some(if i % 2 == 0 { "99999" } else { "-99999" })).unwrap();
        b.end_row();
        expected.push(if i == 6 { format!("{}.{}", &max[..74], "99") } else { text.to_string() });
    }
    let batch = Exported::new(&fields, b);
    let schema = batch.schema();
    let view = unsafe { BatchView::from_raw(&schema, &batch.array) }.unwrap();
    let read: Vec<String> = (0..n).map(|r| view.column(0).value(r).to_text()).collect();
    assert_eq!(read, expected);
    assert!(view.column(0).is_null(n - 1));
    assert_eq!(view.column(0).decimal(7).unwrap().to_le_bytes()[..3], [0x39, 0x30, 0]);
    assert_eq!(view.column(0).decimal(1).unwrap().unscaled_i128(), Some(-1));
    assert_eq!(view.column(1).value(1).to_json(), "-99999");
}

#[test]
fn decimals_out_of_range_or_past_the_scale_are_errors_never_cut() {
    let fields = vec![Field::new("wide", ColumnType::Decimal256 { precision: 40, scale: 2 }),
                      Field::new("narrow", ColumnType::Decimal128 { precision: 4, scale: 2 })];
    let mut b = BatchBuilder::new(&fields);
    let forty_one = format!("{}.00", "1".repeat(39));
    for (text, expected) in [
        (forty_one.as_str(), "has more than 40 digits"),
        ("0.001", "has more than 2 digits after the point"),
        ("1e5", "is not a decimal number"),
        ("", "is not a decimal number"),
        ("-", "is not a decimal number"),
        ("1.2.3", "is not a decimal number"),
        ("١٢", "is not a decimal number"),
    ] {
        let message = b.push_decimal_text(0, Some(text)).unwrap_err().message;
        assert!(message.contains(expected) && message.contains("d:40,2,256"), "{}: {}", text, message);
    }
    assert!(b.push_decimal256_parts(0, Some((i128::MAX, u128::MAX))).unwrap_err().message.contains("has more than 40 digits"));
    let mut too_big = [0u8; 32];
    too_big[17] = 1;  // 2^136: 41 digits
    assert!(b.push_decimal256(0, Some(too_big)).is_err());
    assert!(b.push_decimal_text(1, Some("100.00")).unwrap_err().message.contains("has more than 4 digits"));
    assert!(b.push_decimal_text(1, Some("1.005")).is_err());
    // Nothing refused was pushed: the row still takes one value per column.
    b.push_decimal_text(0, Some(&format!("-{}.99", "9".repeat(38)))).unwrap();
    b.push_decimal_text(1, Some("-99.990")).unwrap();
    b.end_row();
    let batch = Exported::new(&fields, b);
    let schema = batch.schema();
    let view = unsafe { BatchView::from_raw(&schema, &batch.array) }.unwrap();
    assert_eq!(view.column(0).value(0).to_text(), format!("-{}.99", "9".repeat(38)));
    assert_eq!(view.column(1).value(0).to_text(), "-99.99");
}

#[test]
#[should_panic(expected = "takes no 256-bit decimals")]
fn a_decimal256_into_a_decimal128_column_is_a_programming_error() {
    let mut b = BatchBuilder::new(&[Field::new("d", ColumnType::Decimal128 { precision: 10, scale: 0 })]);
    let _ = b.push_decimal256_parts(0, Some((0, 1)));
}
