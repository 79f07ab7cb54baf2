import Foundation
import PluginKit

/// What writes an export's files: an exporter plugin, or the host's CSV writer.
protocol ExportFileWriter: AnyObject {
    func begin(_ schema: OwnedSchema) throws
    func write(_ batch: OwnedBatch) throws
    func finish() throws
}

/// An exporter plugin's instance, wherever it runs (`plugins.isolation`).
final class PluginExport: ExportFileWriter {
    private let instance: any ExporterInstance

    init(_ instance: any ExporterInstance) { self.instance = instance }

    func begin(_ schema: OwnedSchema) throws { try instance.begin(schema) }
    func write(_ batch: OwnedBatch) throws { try instance.write(batch) }
    func finish() throws { try instance.finish() }
}

/// `ext_type=CSV`: UTF-8 with a BOM (so spreadsheet programs detect the encoding), RFC 4180
/// quoting, ISO 8601 dates.
final class CSVExport: ExportFileWriter {
    private let handle: FileHandle
    private var out = OutputBuffer()
    private var fields: [ArrowField] = []

    init(path: String) throws {
        guard FileManager.default.createFile(atPath: path, contents: nil), let h = FileHandle(forWritingAtPath: path) else {
            throw GatewayError(.internalServerError, "cannot create \(path)")
        }
        handle = h
    }

    func begin(_ schema: OwnedSchema) throws {
        fields = schema.fields
        out.append(UInt8(0xEF)); out.append(UInt8(0xBB)); out.append(UInt8(0xBF))
        for (i, f) in fields.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            var name = f.name
            name.withUTF8 { quoted(UnsafeRawBufferPointer($0)) }
        }
        out.append(UInt8(ascii: "\r")); out.append(UInt8(ascii: "\n"))
    }

    func write(_ batch: OwnedBatch) throws {
        let view = batch.view
        let raws = view.columns.map(\.raw)
        for row in 0..<view.length {
            for (c, column) in raws.enumerated() {
                if c > 0 { out.append(UInt8(ascii: ",")) }
                guard !column.isNull(row) else { continue }
                switch column.kind {
                case .utf8, .binary: quoted(column.bytes(row))
                case .bool: out.append(column.bool(row) ? "true" : "false")
                case .int8, .int16, .int32, .int64: out.appendInteger(column.int64(row))
                case .uint8, .uint16, .uint32, .uint64: out.appendUnsigned(column.uint64(row))
                case .float32, .float64: out.append(column.double(row).description)
                case .decimal128, .decimal256: out.append(view.columns[c].decimalText(row))
                case .date32: out.appendDay(column.int64(row))
                case .date64, .timestamp:
                    let unit: ArrowType.TimeUnit = if case .timestamp(let u, _) = fields[c].type { u } else { .milli }
                    guard let micros = unit.micros(column.int64(row)) else { throw TimeOutOfRange(column: fields[c].name) }
                    out.appendTimestamp(micros)
                case .null: break
                }
            }
            out.append(UInt8(ascii: "\r")); out.append(UInt8(ascii: "\n"))
            if out.count > 1 << 20 { try flush() }
        }
    }

    func finish() throws {
        try flush()
        try handle.close()
    }

    private func quoted(_ bytes: UnsafeRawBufferPointer) {
        let needs = bytes.contains { $0 == UInt8(ascii: ",") || $0 == UInt8(ascii: "\"") || $0 == 0x0A || $0 == 0x0D }
        guard needs else { return out.append(bytes) }
        out.append(UInt8(ascii: "\""))
        for b in bytes {
            if b == UInt8(ascii: "\"") { out.append(b) }
            out.append(b)
        }
        out.append(UInt8(ascii: "\""))
    }

    private func flush() throws {
        try out.withBytes { try handle.write(contentsOf: Data($0)) }
        out.reset()
    }
}
