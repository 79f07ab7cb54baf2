import Foundation
import NIOCore
import PluginKit

/// Serializes batches as one JSON array of row objects (see `JSONRowEncoder` for how each
/// value is written). Output leaves in chunks of about 64 KB.
struct JSONRowWriter {
    private var out = OutputBuffer()
    private var encoder = JSONRowEncoder(fields: [])
    private var rows = 0
    private let emit: (ByteBuffer) throws -> Void
    private static let chunkSize = 64 * 1024

    init(emit: @escaping (ByteBuffer) throws -> Void) {
        self.emit = emit
    }

    mutating func begin(_ fields: [ArrowField]) {
        encoder = JSONRowEncoder(fields: fields)
        out.append(UInt8(ascii: "["))
    }

    mutating func write(_ batch: BatchView) throws {
        let raws = batch.columns.map(\.raw)
        for row in 0..<batch.length {
            if rows > 0 { out.append(UInt8(ascii: ",")) }
            try encoder.appendRow(raws, row, to: &out)
            rows += 1
            if out.count >= Self.chunkSize { try flush() }
        }
    }

    mutating func finish() throws {
        try emit(end())
    }

    /// The end of the array and every byte not emitted yet, for the caller to send with its
    /// own end (see ResponseBodySink).
    mutating func end() -> ByteBuffer {
        out.append(UInt8(ascii: "]"))
        return out.takeByteBuffer()
    }

    private mutating func flush() throws {
        guard out.count > 0 else { return }
        try emit(out.takeByteBuffer())
    }
}
