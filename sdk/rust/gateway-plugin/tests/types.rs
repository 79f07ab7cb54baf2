//! Every column type the batch builder makes, exported as the Arrow C data interface and
//! read back through the raw structs the host receives: format strings, buffer counts,
//! values in little-endian at their width, validity, offsets. (The gateway's own tests read
//! a Rust plugin's batches through its checked import; this proves the bytes before that.)
use gateway_plugin::abi::{ArrowArray, ArrowSchema};
use gateway_plugin::{export_schema, BatchBuilder, ColumnType, Field, TimeUnit};
use std::ffi::CStr;

/// The bytes of buffer `buffer` of child `child`, `len` of them.
unsafe fn bytes<'a>(array: &'a ArrowArray, child: usize, buffer: usize, len: usize) -> &'a [u8] {
    let column = &**array.children.add(child);
    std::slice::from_raw_parts(*column.buffers.add(buffer) as *const u8, len)
}

#[test]
fn every_type_is_exported_as_the_abi_says() {
    let fields = vec![
        Field::new("i8", ColumnType::Int8),
        Field::new("i16", ColumnType::Int16),
        Field::new("i32", ColumnType::Int32),
        Field::new("u8", ColumnType::UInt8),
        Field::new("u64", ColumnType::UInt64),
        Field::new("f32", ColumnType::Float32),
        Field::new("bin", ColumnType::Binary),
        Field::new("day", ColumnType::Date32),
        Field::new("ms", ColumnType::Date64),
        Field::new("ts", ColumnType::Timestamp(TimeUnit::Micro)),
        Field::new("tz", ColumnType::TimestampUtc(TimeUnit::Milli)),
        Field::new("price", ColumnType::Decimal128 { precision: 10, scale: 2 }),
    ];
    let mut b = BatchBuilder::new(&fields);
    for row in 0..3i128 {
        b.push_int(0, Some(-128 + row)).unwrap();
        b.push_int(1, if row == 1 { None } else { Some(-30000) }).unwrap();
        b.push_int(2, Some(2_000_000_000)).unwrap();
        b.push_int(3, Some(255)).unwrap();
        b.push_int(4, Some(u64::MAX as i128)).unwrap();
        b.push_f32(5, Some(1.5));
        b.push_bytes(6, if row == 2 { None } else { Some(&[0u8, 255][..row as usize + 1]) }).unwrap();
        b.push_int(7, Some(19723)).unwrap();
        b.push_int(8, Some(1_704_067_200_000)).unwrap();
        b.push_int(9, Some(-1)).unwrap();
        b.push_int(10, Some(86_399_999)).unwrap();
        b.push_decimal(11, Some(-1250 + row)).unwrap();
        b.end_row();
    }
    let mut schema = ArrowSchema::empty();
    export_schema(&fields, &mut schema);
    let formats: Vec<String> = (0..fields.len())
        .map(|i| unsafe { CStr::from_ptr((**schema.children.add(i)).format).to_string_lossy().into_owned() })
        .collect();
    assert_eq!(formats, ["c", "s", "i", "C", "L", "f", "z", "tdD", "tdm", "tsu:", "tsm:UTC", "d:10,2"]);
    let mut array = ArrowArray::empty();
    b.export(&mut array);
    assert_eq!(array.length, 3);
    unsafe {
        assert_eq!(bytes(&array, 0, 1, 3), &[0x80, 0x81, 0x82]);
        let i16s = bytes(&array, 1, 1, 6);
        assert_eq!(i16::from_le_bytes([i16s[0], i16s[1]]), -30000);
        assert_eq!((**array.children.add(1)).null_count, 1);
        assert_eq!(bytes(&array, 1, 0, 1)[0] & 0b111, 0b101);
        assert_eq!(bytes(&array, 2, 1, 4), &2_000_000_000i32.to_le_bytes());
        assert_eq!(bytes(&array, 4, 1, 8), &u64::MAX.to_le_bytes());
        assert_eq!(bytes(&array, 5, 1, 4), &1.5f32.to_le_bytes());
        let binary = &**array.children.add(6);
        assert_eq!(binary.n_buffers, 3);
        let offsets = bytes(&array, 6, 1, 16);
        let at = |i: usize| i32::from_le_bytes([offsets[4 * i], offsets[4 * i + 1], offsets[4 * i + 2], offsets[4 * i + 3]]);
        assert_eq!((at(0), at(1), at(2), at(3)), (0, 1, 3, 3));
        assert_eq!(bytes(&array, 6, 2, 3), &[0, 0, 255]);
        assert_eq!(bytes(&array, 7, 1, 4), &19723i32.to_le_bytes());
        assert_eq!(bytes(&array, 8, 1, 8), &1_704_067_200_000i64.to_le_bytes());
        assert_eq!(bytes(&array, 9, 1, 8), &(-1i64).to_le_bytes());
        assert_eq!(bytes(&array, 11, 1, 16), &(-1250i128).to_le_bytes());
        assert_eq!(&bytes(&array, 11, 1, 48)[32..], &(-1248i128).to_le_bytes());
        for i in 0..fields.len() {
            let column = &**array.children.add(i);
            let expected = if i == 6 { 3 } else { 2 };
            assert_eq!(column.n_buffers, expected, "column {}", i);
        }
        (array.release.unwrap())(&mut array);
        (schema.release.unwrap())(&mut schema);
    }
    assert!(array.release.is_none() && schema.release.is_none());
}

#[test]
fn values_outside_a_column_are_errors_never_cut() {
    let fields = vec![
        Field::new("i8", ColumnType::Int8),
        Field::new("u32", ColumnType::UInt32),
        Field::new("price", ColumnType::Decimal128 { precision: 4, scale: 2 }),
    ];
    let mut b = BatchBuilder::new(&fields);
    assert!(b.push_int(0, Some(128)).unwrap_err().message.contains("128 does not fit a column of type c"));
    assert!(b.push_int(1, Some(-1)).is_err());
    assert!(b.push_decimal(2, Some(10_000)).unwrap_err().message.contains("more than 4 digits"));
    assert!(b.push_decimal(2, Some(-10_000)).is_err());
    b.push_int(0, Some(127)).unwrap();
    b.push_int(1, Some(u32::MAX as i128)).unwrap();
    b.push_decimal(2, Some(-9_999)).unwrap();
    b.end_row();
    assert_eq!(b.len(), 1);
}

#[test]
#[should_panic(expected = "takes no decimals")]
fn a_decimal_into_another_column_is_a_programming_error() {
    let mut b = BatchBuilder::new(&[Field::new("n", ColumnType::Int64)]);
    let _ = b.push_decimal(0, Some(1));
}
