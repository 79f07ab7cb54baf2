import PluginKit
@testable import Host

/// What a plugin worker sends the gateway, as the gateway reads it: a schema, then a batch
/// rebuilt for a schema of every column kind. A worker is a plugin's process: it may send
/// anything. Nothing may trap; whatever is accepted is a batch of the schema's columns.
let fields = [
    ArrowField("i", .int64), ArrowField("s", .utf8), ArrowField("b", .bool), ArrowField("d", .decimal128(precision: 38, scale: 2)),
    ArrowField("t", .timestamp(.micro, timezone: "UTC")), ArrowField("z", .binary), ArrowField("n", .null), ArrowField("h", .int16),
]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    _ = try? WorkerBatches.decodeFields(bytes)
    if let batch = try? WorkerBatches.decode(bytes, into: BatchBuilder(fields: fields)) {
        precondition(batch.view.columns.count == fields.count)
    }
    return 0
}
