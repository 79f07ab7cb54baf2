import Foundation
import Testing
@testable import Host

/// The examples in docs/plugin-abi.md must work as shown.
@Suite struct DocsExamplesTests {
    static let doc = TestSupport.packageRoot.appendingPathComponent("docs/plugin-abi.md").path

    static func block(after marker: String, fence: String) throws -> String {
        let text = try String(contentsOfFile: doc, encoding: .utf8)
        let start = try #require(text.range(of: marker)?.upperBound)
        let open = try #require(text.range(of: "```\(fence)\n", range: start..<text.endIndex))
        let close = try #require(text.range(of: "\n```", range: open.upperBound..<text.endIndex))
        return String(text[open.upperBound..<close.lowerBound])
    }

    @Test func cExampleCompilesPassesVerifyAndCounts() async throws {
        let dir = TestSupport.temporaryDirectory("doc-c")
        try Self.block(after: "<!-- example:c-source -->", fence: "c").write(toFile: "\(dir)/counter.c", atomically: true, encoding: .utf8)
        try TestSupport.compilePlugin(source: "\(dir)/counter.c", output: "\(dir)/counter.so")
        let gateway = try TestSupport.gateway(pluginDirs: [dir]) {
            $0.datasources = ["counter": DatasourceDefinition(plugin: "example.counter", config: .object(["count": .number(5000)]))]
        }
        let checks = PluginVerifier(services: gateway.services, scratchDirectory: gateway.dataDirectory).verify(path: "\(dir)/counter.so")
        #expect(checks.allSatisfy { $0.passed }, "\(checks)")
        let plugin = try #require(gateway.registry.plugin(id: "example.counter"))
        let context = InstanceContext(pluginId: plugin.id, instanceName: "doc", services: gateway.services)
        let stream = try SourceHandle(plugin: plugin, config: #"{"count": 4}"#, context: context).read(requestJSON: "{}")
        let batch = try #require(try stream.next())
        #expect((0..<batch.length).map { batch.view.columns[0].int64($0) } == [0, 1, 2, 3])
        #expect(try stream.next() == nil)
        // Through the query API, over two batches (the example fills 4,096 rows at a time).
        let (_, token) = try gateway.tokens.create(name: "q", scopes: ["query"])
        try await TestServer.with(gateway) { server in
            let reply = try await server.request(.GET, "/api/v1/datasource/counter/query?token=\(token)")
            #expect(reply.status == 200)
            // Seed 001's datasource query answers a bare JSON array of rows.
            let rows = try #require(try JSONSerialization.jsonObject(with: Data(reply.body)) as? [[String: Int]])
            #expect(rows.count == 5000 && rows.map { $0["n"] ?? -1 } == Array(0..<5000))
        }
    }

    @Test func cSinkExampleCompilesAndPassesVerify() throws {
        let dir = TestSupport.temporaryDirectory("doc-sink")
        try Self.block(after: "<!-- example:c-sink -->", fence: "c").write(toFile: "\(dir)/counting_sink.c", atomically: true, encoding: .utf8)
        try TestSupport.compilePlugin(source: "\(dir)/counting_sink.c", output: "\(dir)/counting_sink.so")
        let gateway = try TestSupport.gateway(pluginDirs: [dir])
        let checks = PluginVerifier(services: gateway.services, scratchDirectory: gateway.dataDirectory).verify(path: "\(dir)/counting_sink.so")
        #expect(checks.allSatisfy { $0.passed }, "\(checks)")
        #expect(checks.contains { $0.name == "sink aborts after a batch" && $0.detail == "aborted after 4 rows" })
        #expect(gateway.registry.plugin(id: "example.counting-sink")?.kinds == [.sink])
    }

    @Test func swiftExampleTypeChecksAgainstPluginKit() throws {
        let dir = TestSupport.temporaryDirectory("doc-swift")
        try Self.block(after: "## The same in Swift, with PluginKit", fence: "swift").write(toFile: "\(dir)/Plugin.swift", atomically: true, encoding: .utf8)
        let products = TestSupport.productsDirectory
        let result = try TestSupport.run(
            "/usr/bin/env",
            [
                "swiftc", "-typecheck", "-parse-as-library", "-I", "\(products)/Modules",
                "-Xcc", "-fmodule-map-file=\(products)/PluginABI.build/module.modulemap", "-Xcc", "-I", "-Xcc", TestSupport.abiInclude,
                "-Xcc", "-fmodule-map-file=\(TestSupport.packageRoot.path)/Sources/CZlib/module.modulemap",
                // PluginKit's C parts (SwiftPM passes these to a package that depends on it).
                "-Xcc", "-fmodule-map-file=\(products)/CFastDeflate.build/module.modulemap",
                "-Xcc", "-fmodule-map-file=\(products)/CLinuxExtras.build/module.modulemap",
                "\(dir)/Plugin.swift",
            ])
        #expect(result.status == 0, "\(result.output)")
    }
}
