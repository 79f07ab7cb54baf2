import Foundation
import PluginKit
import Testing
@testable import Host

/// Each fixture plugin written in C is loaded through a real directory scan, and the
/// outcome asserted: the good one's rows are read end to end, the bad ones are refused
/// with a one-line reason while the rest keep working.
@Suite struct PluginLoadingTests {
    static func buildFixtures(into dir: String) throws {
        let source = "\(TestSupport.fixtures)/fixture_plugin.c"
        let variants: [(String, [String])] = [
            ("a_good.so", []),
            ("b_no_entry.so", ["FIXTURE_NO_ENTRY"]),
            ("c_major2.so", ["FIXTURE_MAJOR=2"]),
            ("d_newer_minor.so", ["FIXTURE_NEWER_MINOR"]),
            ("e_init_fails.so", ["FIXTURE_INIT_FAILS"]),
            ("f_bad_kind.so", ["FIXTURE_BAD_KIND"]),
            ("g_duplicate.so", []),
        ]
        for (name, defines) in variants {
            try TestSupport.compilePlugin(source: source, output: "\(dir)/\(name)", defines: defines)
        }
        // Not even a shared library: must be refused, not crash the scan.
        try Data("not an ELF file".utf8).write(to: URL(fileURLWithPath: "\(dir)/h_garbage.so"))
    }

    func status(_ registry: PluginRegistry, _ file: String) -> PluginRegistry.Entry.Status? {
        registry.all.first { $0.path.hasSuffix("/\(file)") && !$0.isReplaced }?.status
    }

    func reason(_ registry: PluginRegistry, _ file: String) -> String? {
        if case .refused(let r) = status(registry, file) { return r }
        return nil
    }

    @Test func everyFixtureGetsItsOutcome() throws {
        let dir = TestSupport.temporaryDirectory("fixtures")
        try Self.buildFixtures(into: dir)
        let gateway = try TestSupport.gateway(pluginDirs: [dir])
        let registry = gateway.registry

        #expect(registry.active.map(\.id) == ["fixture.good"])
        #expect(registry.plugin(id: "fixture.good")?.path.hasSuffix("/a_good.so") == true)
        #expect(reason(registry, "b_no_entry.so") == "not a gateway plugin: no gw_plugin_init_v1 symbol")
        #expect(reason(registry, "c_major2.so") == "ABI major mismatch: the plugin exports gw_plugin_init_v2 (ABI 2.x), this gateway speaks ABI 1.3")
        #expect(
            reason(registry, "d_newer_minor.so")
                == "built for ABI 1.4, newer than this gateway's 1.3: upgrade the gateway or rebuild the plugin against ABI 1.3")
        #expect(reason(registry, "e_init_fails.so") == "init failed: license file /etc/fixture.lic not found")
        #expect(reason(registry, "f_bad_kind.so") == "invalid descriptor: kinds has unknown bits 0x100")
        #expect(reason(registry, "g_duplicate.so") == "duplicate id 'fixture.good': already provided by \(dir)/a_good.so")
        #expect(reason(registry, "h_garbage.so") == "the file is not a shared library: 15 bytes is shorter than an ELF header (truncated?)")
        // One line each.
        for entry in registry.all { #expect(!"\(PluginRegistry.describe(entry))".contains("\n")) }
    }

    @Test func goodFixtureRowsReadEndToEnd() throws {
        let dir = TestSupport.temporaryDirectory("fixtures")
        try TestSupport.compilePlugin(source: "\(TestSupport.fixtures)/fixture_plugin.c", output: "\(dir)/good.so")
        let gateway = try TestSupport.gateway(pluginDirs: [dir])
        let plugin = try #require(gateway.registry.plugin(id: "fixture.good"))
        let progress = ProgressLog()
        let context = InstanceContext(
            pluginId: plugin.id, instanceName: "ds1", services: gateway.services,
            onProgress: { progress.append($0) })
        let source = try SourceHandle(plugin: plugin, config: #"{"rows": 10}"#, context: context)

        for expectedReads in 1...2 {
            let stream = try source.read(requestJSON: "{}")
            #expect(stream.fields == [ArrowField("id", .int64), ArrowField("name", .utf8)])
            var ids: [Int64] = [], names: [String] = [], batches = 0
            while let batch = try stream.next() {
                batches += 1
                for row in 0..<batch.length {
                    ids.append(batch.view.columns[0].int64(row))
                    names.append(batch.view.columns[1].string(row))
                }
            }
            #expect(ids == Array(0..<10))
            #expect(names == (0..<10).map { "row \($0)" })
            #expect(batches == 3)
            // The state service persisted the plugin's read counter in the store.
            let stored = try gateway.store.pluginState(plugin: "fixture.good", instance: "ds1", key: "reads")
            #expect(stored.map { String(decoding: $0, as: UTF8.self) } == "\(expectedReads)")
        }
        #expect(progress.values.last == .init(done: 10, total: 10, message: nil))
    }

    @Test func invalidConfigAndCancellationAreReportedNotCrashed() throws {
        let dir = TestSupport.temporaryDirectory("fixtures")
        try TestSupport.compilePlugin(source: "\(TestSupport.fixtures)/fixture_plugin.c", output: "\(dir)/good.so")
        let gateway = try TestSupport.gateway(pluginDirs: [dir])
        let plugin = try #require(gateway.registry.plugin(id: "fixture.good"))
        let context = InstanceContext(pluginId: plugin.id, instanceName: "x", services: gateway.services)
        #expect(throws: PluginError.self) { try SourceHandle(plugin: plugin, config: #"{"rows": "many"}"#, context: context) }
        do {
            _ = try SourceHandle(plugin: plugin, config: "{}", context: context)
            Issue.record("accepted an invalid config")
        } catch {
            #expect(error.status == 2)  // GW_INVALID_CONFIG
            #expect(error.message == #"config must be {"rows": N} with N >= 0"#)
        }
        let source = try SourceHandle(plugin: plugin, config: #"{"rows": 100}"#, context: context)
        let stream = try source.read(requestJSON: "{}")
        _ = try stream.next()
        context.cancel()
        do {
            _ = try stream.next()
            Issue.record("a cancelled stream kept producing")
        } catch let error as PluginError {
            #expect(error.status == 7)  // GW_CANCELLED
        }
    }

    @Test func rescanPicksUpNewAndChangedFiles() throws {
        let dir = TestSupport.temporaryDirectory("fixtures")
        let source = "\(TestSupport.fixtures)/fixture_plugin.c"
        let gateway = try TestSupport.gateway(pluginDirs: [dir])
        #expect(gateway.registry.all.isEmpty)

        // A new file appears: picked up without a restart.
        try TestSupport.compilePlugin(source: source, output: "\(dir)/good.so")
        let added = gateway.registry.scan()
        #expect(added.count == 1)
        let first = try #require(gateway.registry.plugin(id: "fixture.good"))
        #expect(first.version == "1.0.0")
        // Work in flight on the first copy.
        let context = InstanceContext(pluginId: first.id, instanceName: "x", services: gateway.services)
        let running = try SourceHandle(plugin: first, config: #"{"rows": 6}"#, context: context).read(requestJSON: "{}")

        // The file changes: a new copy is loaded beside the old one.
        Thread.sleep(forTimeInterval: 0.01)  // a distinct mtime
        let rebuilt = "\(dir)/rebuilt.tmp"
        try TestSupport.compilePlugin(source: source, output: rebuilt, defines: [#"FIXTURE_VERSION="2.0.0""#])
        try FileManager.default.removeItem(atPath: "\(dir)/good.so")
        try FileManager.default.moveItem(atPath: rebuilt, toPath: "\(dir)/good.so")
        gateway.registry.scan()
        let second = try #require(gateway.registry.plugin(id: "fixture.good"))
        #expect(second.version == "2.0.0")
        #expect(second.loadedFrom != second.path)
        #expect(gateway.registry.all.contains { if case .replaced(let p) = $0.status { p.version == "1.0.0" } else { false } })

        // The old copy finishes its work.
        var rows = 0
        while let batch = try running.next() { rows += batch.length }
        #expect(rows == 6)

        // An unchanged directory changes nothing.
        #expect(gateway.registry.scan().isEmpty)
    }
}

final class ProgressLog: @unchecked Sendable {  // guarded by lock
    private let lock = NSLock()
    private var items: [InstanceContext.Progress] = []
    func append(_ p: InstanceContext.Progress) { lock.withLock { items.append(p) } }
    var values: [InstanceContext.Progress] { lock.withLock { items } }
}
