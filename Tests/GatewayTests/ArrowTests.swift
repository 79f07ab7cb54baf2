import PluginABI
import PluginKit
import Testing

/// PluginKit's Arrow builders and readers: what goes in comes out, bit for bit.
@Suite struct ArrowTests {
    @Test func everyTypeRoundTripsThroughExportAndImport() throws {
        let builder = try ConformanceData.batch(rows: 3)
        let batch = try OwnedBatch(exporting: builder)
        let c = batch.view.columns
        #expect(batch.length == 3)
        #expect(c.allSatisfy { $0.isNull(2) })
        #expect(c[1].bool(0) == true && c[1].bool(1) == false)
        #expect(c[2].int64(1) == -1 && c[5].int64(1) == -1)
        #expect(c[9].uint64(1) == 1)
        #expect(c[11].double(1) == 1.5)
        #expect(c[12].decimalText(0) == "0.2500" && c[12].decimalText(1) == "1.2500")
        #expect(c[13].decimalText(1) == "1.25")
        #expect(c[14].int64(1) == 19_001)
        #expect(c[16].int64(0) == 1_700_000_000_000_000)
        #expect(Array(c[17].bytes(1)) == [0, 1, 255])
        #expect(c[18].string(1) == "值 1 \"quoted\"")
        // The builder is empty and reusable after export.
        #expect(builder.rowCount == 0)
    }

    @Test func valuesThatDoNotFitAreRefused() throws {
        let b = BatchBuilder(fields: [
            ArrowField("small", .int8), ArrowField("d", .decimal128(precision: 10, scale: 2)),
            ArrowField("u", .uint16),
        ])
        #expect(throws: ArrowError.self) { try b[0].append(int: 300) }
        #expect(throws: ArrowError.self) { try b[1].append(string: "1.234") }  // too many fraction digits
        #expect(throws: ArrowError.self) { try b[1].append(string: "12x") }
        #expect(throws: ArrowError.self) { try b[2].append(int: -1) }
    }

    @Test func decimalsKeepSignAndScale() throws {
        for (text, expected) in [("-12.5", "-12.500"), ("0", "0.000"), ("99999999999999999999999999999.999", "99999999999999999999999999999.999")] {
            let words = try #require(DecimalText.parse(text[...], scale: 3, words: 2))
            #expect(DecimalText.format(words, scale: 3) == expected)
        }
        #expect(DecimalText.parse("1" + String(repeating: "0", count: 40), scale: 0, words: 2) == nil)
        let wide = try #require(DecimalText.parse("-" + String(repeating: "9", count: 60), scale: 0, words: 4))
        #expect(DecimalText.format(wide, scale: 0) == "-" + String(repeating: "9", count: 60))
    }

    @Test func malformedBatchesAreRejectedNotRead() throws {
        let fields = [ArrowField("a", .int64)]
        let builder = BatchBuilder(fields: [ArrowField("a", .int64), ArrowField("b", .int64)])
        try builder[0].append(int: 1)
        try builder[1].append(int: 2)
        let array = UnsafeMutablePointer<ArrowArray>.allocate(capacity: 1)
        defer { array.deallocate() }
        try builder.export(into: array)
        // Two columns where the schema says one.
        #expect(throws: ArrowError.self) { try OwnedBatch(moving: array, fields: fields) }
        // A ragged batch cannot even be exported.
        try builder[0].append(int: 1)
        #expect(throws: ArrowError.self) { try builder.export(into: array) }
    }

    @Test func streamExportSignalsEndAndErrors() throws {
        final class Failing: BatchProducer {
            let fields = [ArrowField("x", .int32)]
            var calls = 0
            func next(into batch: BatchBuilder) throws -> Bool {
                calls += 1
                if calls == 2 { throw PluginError.unavailable("upstream page 2 failed") }
                try batch[0].append(int: 7)
                return true
            }
        }
        let stream = UnsafeMutablePointer<ArrowArrayStream>.allocate(capacity: 1)
        defer { stream.deallocate() }
        exportStream(Failing(), into: stream)
        let reader = try StreamReader(moving: stream)
        #expect(try reader.next()?.view.columns[0].int64(0) == 7)
        do {
            _ = try reader.next()
            Issue.record("error not raised")
        } catch let e as PluginError {
            #expect(e.message == "upstream page 2 failed")
            #expect(e.status == GW_UNAVAILABLE)
        }
    }
}
