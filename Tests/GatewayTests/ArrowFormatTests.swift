import Foundation
import PluginABI
import PluginKit
import Testing
@testable import Host

/// The ArrowFormat plugin's output, read back by pyarrow.
@Suite struct ArrowFormatTests {
    static let checker = "\(TestSupport.fixtures)/check_arrow.py"

    @Test func everyABITypeRoundTripsThroughPyarrow() async throws {
        let gateway = try TestSupport.gateway(pluginDirs: [TestSupport.productsDirectory])
        let plugin = try #require(gateway.registry.plugin(id: "arrow.ipc"))
        let bytes = ByteCollector()
        let context = InstanceContext(pluginId: plugin.id, instanceName: "test", services: gateway.services)
        let format = try FormatHandle(plugin: plugin, config: "{}", context: context) { chunk in
            bytes.append(chunk)
            return GW_OK
        }
        try format.begin(OwnedSchema(fields: ConformanceData.fields))
        try format.write(OwnedBatch(exporting: ConformanceData.batch(rows: 5)))
        try format.write(OwnedBatch(exporting: ConformanceData.batch(rows: 3)))
        try format.finish()
        let file = TestSupport.temporaryDirectory("arrow") + "/all-types.arrows"
        try Data(bytes.value).write(to: URL(fileURLWithPath: file))
        let result = try await TestSupport.onThread { try TestSupport.run("/usr/bin/env", ["python3", Self.checker, "conformance", file]) }
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("ok: 19 types, 8 rows in 2 batches"))
    }

    @Test func queryAsArrowEqualsQueryAsJSONOverManyBatches() async throws {
        let (gateway, token) = try QueryTests.gateway()
        // Enough rows for several batches of 65,536.
        let db = try SQLiteConnection(path: gateway.datasetsPath)
        try db.execute(
            """
            WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 150000)
            INSERT INTO sales SELECT 'r' || (i % 50), i * 0.5, i, date('2026-01-01', '+' || (i % 300) || ' days'),
                   datetime('2026-01-01', '+' || i || ' seconds'), i % 1000 + 0.25, i % 2, CASE WHEN i % 7 = 0 THEN NULL ELSE 'n' || i END
            FROM n;
            """)
        try await TestServer.with(gateway) { server in
            let base = "\(server.base)/api/v1/dataset/sales/query?token=\(token)"
            let result = try await TestSupport.onThread {
                try TestSupport.run("/usr/bin/env", ["python3", Self.checker, "query", base + "&format=json", base + "&format=Arrow"])
            }
            #expect(result.status == 0, "\(result.output)")
            #expect(result.output.contains("ok: 150003 rows, 8 columns, 3 batches"))
        }
    }
}

final class ByteCollector: @unchecked Sendable {  // guarded by lock
    private let lock = NSLock()
    private var bytes: [UInt8] = []
    func append(_ chunk: UnsafeRawBufferPointer) { lock.withLock { bytes.append(contentsOf: chunk) } }
    var value: [UInt8] { lock.withLock { bytes } }
}
