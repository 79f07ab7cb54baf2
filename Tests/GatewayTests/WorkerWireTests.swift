import Foundation
import PluginKit
import Synchronization
import Testing
@testable import Host

/// What crosses between a plugin worker and the gateway: batches as their Arrow buffers,
/// rebuilt by the gateway with every size, offset and UTF-8 value checked.
@Suite struct WorkerWireTests {
    static let fields = [
        ArrowField("id", .int64), ArrowField("name", .utf8), ArrowField("ok", .bool), ArrowField("price", .decimal128(precision: 38, scale: 2)),
        ArrowField("day", .date32), ArrowField("raw", .binary),
    ]

    static func batch(rows: Int) throws -> OwnedBatch {
        let builder = BatchBuilder(fields: fields)
        for i in 0..<rows {
            let c = builder.columns
            if i % 3 == 0 { c[0].appendNull() } else { try c[0].append(int: Int64(i)) }
            if i % 4 == 1 { c[1].appendNull() } else { try c[1].append(string: "név \(i)") }
            try c[2].append(bool: i % 2 == 0)
            try c[3].append(string: "\(i).25")
            try c[4].append(int: Int64(20_000 + i))
            try c[5].append(bytes: [UInt8(i & 0xFF), 0, 0xFF])
        }
        return try OwnedBatch(exporting: builder)
    }

    static func texts(_ view: BatchView) -> [[String]] {
        (0..<view.length).map { row in
            view.columns.map { column in
                guard !column.isNull(row) else { return "null" }
                switch column.field.type {
                case .utf8: return column.string(row)
                case .bool: return "\(column.bool(row))"
                case .decimal128: return column.decimalText(row)
                case .binary: return column.bytes(row).map { String($0) }.joined(separator: ",")
                default: return "\(column.int64(row))"
                }
            }
        }
    }

    @Test func aBatchCrossesWithEveryValueAndNull() throws {
        for rows in [0, 1, 9, 1000] {
            let original = try Self.batch(rows: rows)
            let bytes = WorkerBatches.encode(original.view)
            let rebuilt = try WorkerBatches.decode(bytes, into: BatchBuilder(fields: Self.fields))
            #expect(Self.texts(rebuilt.view) == Self.texts(original.view))
        }
        #expect(try WorkerBatches.decodeFields(WorkerBatches.encode(fields: Self.fields)).map(\.type) == Self.fields.map(\.type))
    }

    @Test func aWorkerThatLiesIsRefusedNotRead() throws {
        let good = WorkerBatches.encode(try Self.batch(rows: 5).view)
        // Every cut of a good frame, and every byte changed, is refused or read within bounds.
        for cut in stride(from: 0, to: good.count, by: 7) {
            #expect(throws: (any Error).self) { try WorkerBatches.decode(Array(good.prefix(cut)), into: BatchBuilder(fields: Self.fields)) }
        }
        for i in 0..<good.count {
            var bad = good
            bad[i] ^= 0xA5
            _ = try? WorkerBatches.decode(bad, into: BatchBuilder(fields: Self.fields))
        }
        // Offsets that go backwards, and text that is not UTF-8, by name.
        let builder = ColumnBuilder(ArrowField("s", .utf8))
        let backwards: [Int32] = [0, 3, 1]
        #expect(throws: ArrowError.self) {
            try backwards.withUnsafeBytes { offsets in
                try [UInt8](repeating: 65, count: 3).withUnsafeBytes { try builder.load(count: 2, validity: nil, values: $0, offsets: offsets) }
            }
        }
        let split: [Int32] = [0, 1, 2]
        #expect(throws: ArrowError.self) {
            try split.withUnsafeBytes { offsets in
                try [UInt8]([0xC3, 0xA9]).withUnsafeBytes { try builder.load(count: 2, validity: nil, values: $0, offsets: offsets) }
            }
        }
    }
    /// A sink that keeps the ids (column 0) it was given, in order.
    final class IdSink: BatchSink {
        var ids: [Int64] = []
        func begin(_ schema: OwnedSchema) throws {}
        func write(_ batch: OwnedBatch) throws {
            let column = batch.view.columns[0]
            ids += (0..<batch.length).map { column.int64($0) }
        }
        func commit() throws {}
        func abort() {}
    }

    /// A worker reads each next batch as soon as it sent one only when the whole stream is
    /// wanted (the pump reads ahead anyway): every row arrives, in order. Under a row limit
    /// it reads nothing past what was asked, so a source's cursor never moves past what was
    /// delivered. The fixture reports its progress after each batch it makes; the worker's
    /// reports reach the gateway before the reply to its next call.
    @Test func aWorkerReadsAheadOnlyWhenTheWholeStreamIsWanted() throws {
        let (gateway, _) = try MisbehavingPluginTests.gateway(nil) { $0.plugins.isolation = ["fixture.good": "process"] }
        let spec = SourceSpec.plugin(id: "fixture.good", config: #"{"rows": 12}"#, instance: "ahead", request: "{}")
        func read(limit: Int?) throws -> (ids: [Int64], progress: [Int64]) {
            let progress = Mutex<[Int64]>([])
            let source = try SourceOpener(gateway: gateway, control: RunControl(timeBudgetSeconds: 60)).open(spec) { report in
                progress.withLock { $0.append(report.done) }
            }
            let sink = IdSink()
            let result = try Pump.run(source, into: sink, .init(rowLimit: limit))
            if !result.sourceFinished { try source.finish() }  // one more call: what the worker did meanwhile is heard first
            return (sink.ids, progress.withLock { $0 })
        }
        let limited = try read(limit: 4)
        #expect(limited.ids == [0, 1, 2, 3])
        #expect(limited.progress == [4], "the worker read past the limit: \(limited.progress)")
        let whole = try read(limit: nil)
        #expect(whole.ids == Array(0..<12))
        #expect(whole.progress == [4, 8, 12])
    }
}
