import PluginKit

/// Batches and schemas as they cross between a worker and the gateway. The worker encodes
/// what it imported from the plugin and checked (`BatchView`), value by value; the gateway
/// builds its own batch from them with `BatchBuilder`, which checks every value again. No
/// length or offset the plugin wrote is ever used to read memory in the gateway.
enum WorkerBatches {
    static func encode(fields: [ArrowField]) -> [UInt8] {
        var w = WireWriter()
        w.u32(UInt32(fields.count))
        for field in fields {
            w.string(field.name)
            w.string(field.type.format)
        }
        return w.bytes
    }

    static func decodeFields(_ bytes: [UInt8]) throws -> [ArrowField] {
        var r = WireReader(bytes)
        let count = Int(try r.u32())
        guard count <= 100_000 else { throw WireReader.Malformed(description: "\(count) columns") }
        return try (0..<count).map { _ in
            let name = try r.string(), format = try r.string()
            guard let type = ArrowType(format: format) else { throw WireReader.Malformed(description: "a column of format '\(format)'") }
            return ArrowField(name, type)
        }
    }

    /// Column by column: for each row a null flag, then the value as its kind carries it.
    static func encode(_ batch: BatchView) -> [UInt8] {
        var w = WireWriter()
        w.u32(UInt32(batch.length))
        for column in batch.columns {
            for row in 0..<batch.length {
                if column.isNull(row) {
                    w.u8(0)
                    continue
                }
                w.u8(1)
                switch column.field.type {
                case .null: break
                case .bool: w.u8(column.bool(row) ? 1 : 0)
                case .int8, .int16, .int32, .int64, .date32, .date64, .timestamp: w.i64(column.int64(row))
                case .uint8, .uint16, .uint32, .uint64: w.i64(Int64(bitPattern: column.uint64(row)))
                case .float32, .float64: w.f64(column.double(row))
                case .decimal128, .decimal256: w.string(column.decimalText(row))
                case .binary, .utf8: w.blob(column.bytes(row))
                }
            }
        }
        return w.bytes
    }

    static func decode(_ bytes: [UInt8], into builder: BatchBuilder) throws -> OwnedBatch {
        var r = WireReader(bytes)
        let rows = Int(try r.u32())
        for column in builder.columns {
            for _ in 0..<rows {
                guard try r.u8() == 1 else {
                    column.appendNull()
                    continue
                }
                switch column.field.type {
                case .null: column.appendNull()
                case .bool: try column.append(bool: try r.u8() != 0)
                case .int8, .int16, .int32, .int64, .date32, .date64, .timestamp: try column.append(int: try r.i64())
                case .uint8, .uint16, .uint32, .uint64: try column.append(uint: UInt64(bitPattern: try r.i64()))
                case .float32, .float64: try column.append(double: try r.f64())
                case .decimal128, .decimal256: try column.append(string: try r.string())
                case .binary, .utf8: try column.append(bytes: Array(try r.blob()))
                }
            }
        }
        guard r.isAtEnd else { throw WireReader.Malformed(description: "a batch longer than its columns") }
        return try OwnedBatch(exporting: builder)
    }
}
