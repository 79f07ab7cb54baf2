import Foundation
import PluginABI
import PluginKit
import Synchronization

/// `gateway plugins verify FILE.so`: the conformance check every plugin must pass. It loads
/// the file, checks the descriptor, then exercises each kind's contract with valid and
/// invalid input.
public struct PluginVerifier {
    public struct Check: Sendable, CustomStringConvertible {
        public let passed: Bool
        public let name: String
        public let detail: String
        public var description: String { "\(passed ? "PASS" : "FAIL") \(name)\(detail.isEmpty ? "" : ": \(detail)")" }
    }

    let services: HostServiceProvider
    let scratchDirectory: String
    /// A file for a file-reading source to read (`gateway plugins verify --sample FILE`).
    let sample: String?
    /// The instance config to exercise the plugin with (`--plugin-config FILE`), instead of
    /// its example config.
    let instanceConfig: String?
    /// Hears each check as it starts and as it ends, so that a process watching this one
    /// (`gateway plugins verify` runs the checks in a child) knows the last call a crash or
    /// a hang happened in.
    let onStart: (String) -> Void
    let onEnd: (Check) -> Void

    public init(
        services: HostServiceProvider, scratchDirectory: String, sample: String? = nil, instanceConfig: String? = nil,
        onStart: @escaping (String) -> Void = { _ in }, onEnd: @escaping (Check) -> Void = { _ in }
    ) {
        self.services = services
        self.scratchDirectory = scratchDirectory
        self.sample = sample
        self.instanceConfig = instanceConfig
        self.onStart = onStart
        self.onEnd = onEnd
    }

    /// The config the happy-path checks use.
    private func workingConfig(_ plugin: LoadedPlugin) -> String? { instanceConfig ?? plugin.exampleConfig }

    public func verify(path: String) -> [Check] {
        var checks: [Check] = []
        let plugin: LoadedPlugin
        onStart("load")
        switch PluginLoader.load(path: path) {
        case .failure(let refusal):
            return [reported(Check(passed: false, name: "load", detail: refusal.reason))]
        case .success(let p):
            plugin = p
            checks.append(
                reported(
                    Check(
                        passed: true, name: "load",
                        detail: "\(p.id) \(p.version), ABI 1.\(p.abiMinor), kinds \(p.kinds.map(\.rawValue).joined(separator: ","))")))
            checks.append(reported(Check(passed: true, name: "descriptor", detail: "id, version, kinds, tables and config schema are valid")))
        }
        checks.append(reported(verifyConfigAgainstSchema(plugin)))
        if plugin.kinds.contains(.source) { checks += verifySource(plugin) }
        if plugin.kinds.contains(.format) { checks += verifyFormat(plugin) }
        if plugin.kinds.contains(.exporter) { checks += verifyExporter(plugin) }
        if plugin.kinds.contains(.sink) { checks += verifySink(plugin) }
        return checks
    }

    /// The config the happy path uses must pass the host's own schema check, the one
    /// start-up applies to administrators' configs: a plugin whose example breaks its schema
    /// would have every real config judged by rules it does not follow itself.
    private func verifyConfigAgainstSchema(_ plugin: LoadedPlugin) -> Check {
        let name = instanceConfig == nil ? "example config matches the config schema" : "given config matches the config schema"
        guard let config = workingConfig(plugin) else { return Check(passed: true, name: name, detail: "skipped: no example config") }
        guard let value = ConfigSchema.parse(config) else { return Check(passed: false, name: name, detail: "\(config) is not JSON") }
        let problems = ConfigSchema.problems(value, schema: ConfigSchema.parse(plugin.configSchema) ?? .object([:]))
        return Check(
            passed: problems.isEmpty, name: name,
            detail: problems.isEmpty ? "\(config) checked against config_schema_json" : problems.joined(separator: "; "))
    }

    private func context(_ plugin: LoadedPlugin) -> InstanceContext {
        InstanceContext(pluginId: plugin.id, instanceName: "verify-\(UUID().uuidString)", services: services)
    }

    /// Tells `onEnd` of a check made without `check(_:_:)`.
    private func reported(_ check: Check) -> Check {
        onEnd(check)
        return check
    }

    private func check(_ name: String, _ body: () throws -> String) -> Check {
        onStart(name)
        let result: Check
        do {
            result = Check(passed: true, name: name, detail: try body())
        } catch {
            result = Check(passed: false, name: name, detail: "\(error)")
        }
        onEnd(result)
        return result
    }

    // MARK: source

    private func verifySource(_ plugin: LoadedPlugin) -> [Check] {
        var checks = [
            check("source refuses config that is not JSON") { try expectRefusal(plugin, config: "{not json", open: openSource) },
            check("source refuses config of the wrong shape") { try expectRefusal(plugin, config: invalidConfig(for: plugin), open: openSource) },
        ]
        guard let example = workingConfig(plugin) else {
            checks.append(
                reported(
                    Check(
                        passed: true, name: "source reads its example config",
                        detail: "skipped: the plugin gives no example_config_json (give one with --plugin-config FILE)")))
            return checks
        }
        var request = "{}"
        if !plugin.sourceFileExtensions.isEmpty {
            checks.append(
                check("file source refuses a read without a file") {
                    let source = try SourceHandle(plugin: plugin, config: example, context: context(plugin))
                    do {
                        _ = try source.read(requestJSON: "{}")
                    } catch let e as PluginError where e.status == GW_INVALID_ARGUMENT && !e.message.isEmpty {
                        return "refused: \(e.message)"
                    }
                    throw InvalidInput("a read without 'file' did not fail with invalid argument")
                })
            guard let sample else {
                checks.append(
                    reported(
                        Check(
                            passed: true, name: "source reads a sample file",
                            detail: "skipped: give one with --sample FILE (.\(plugin.sourceFileExtensions.joined(separator: ", .")))")))
                return checks
            }
            request = String(decoding: (try? JSONSerialization.data(withJSONObject: ["file": sample])) ?? Data("{}".utf8), as: UTF8.self)
        }
        checks.append(
            check(request == "{}" ? "source reads its example config" : "source reads the sample file") {
                let source = try SourceHandle(plugin: plugin, config: example, context: context(plugin))
                let stream = try source.read(requestJSON: request)
                var rows = 0, batches = 0
                while let batch = try stream.next() {
                    rows += batch.length
                    batches += 1
                }
                try source.finish()
                return "\(stream.fields.count) columns, \(rows) rows in \(batches) batches, every batch well-formed"
            })
        return checks
    }

    private func openSource(_ plugin: LoadedPlugin, _ config: String) throws(PluginError) {
        _ = try SourceHandle(plugin: plugin, config: config, context: context(plugin))
    }

    private func openSink(_ plugin: LoadedPlugin, _ config: String) throws(PluginError) {
        _ = try SinkHandle(plugin: plugin, config: config, context: context(plugin))
    }

    private func expectRefusal(
        _ plugin: LoadedPlugin, config: String,
        open: (LoadedPlugin, String) throws(PluginError) -> Void
    ) throws -> String {
        do {
            try open(plugin, config)
        } catch {
            guard error.status == GW_INVALID_CONFIG || error.status == GW_INVALID_ARGUMENT else {
                throw InvalidInput("open(\(config)) refused with status \(PluginError.name(of: error.status)), expected invalid config")
            }
            guard !error.message.isEmpty, !error.message.hasSuffix("failed without a message") else {
                throw InvalidInput("open(\(config)) refused without a message")
            }
            return "open(\(config)) refused with \(PluginError.name(of: error.status)): \(error.message)"
        }
        throw InvalidInput("accepted \(config)")
    }

    /// A config no schema-abiding plugin can accept: required fields missing, or, when
    /// nothing is required, an object where every declared property expects a scalar.
    private func invalidConfig(for plugin: LoadedPlugin) -> String {
        let schema = (try? JSONSerialization.jsonObject(with: Data(plugin.configSchema.utf8))) as? [String: Any] ?? [:]
        if let required = schema["required"] as? [String], !required.isEmpty { return "{}" }
        let properties = (schema["properties"] as? [String: Any])?.keys.sorted() ?? []
        guard let first = properties.first else { return "[]" }
        return "{\"\(first)\": {\"__verify__\": [true, null]}}"
    }

    // MARK: format and exporter

    private func verifyFormat(_ plugin: LoadedPlugin) -> [Check] {
        let config = workingConfig(plugin) ?? "{}"
        return [
            // An empty stream may serialize to nothing at all (NDJSON, CSV without a header).
            check("format serializes an empty stream") {
                let bytes = try runFormat(plugin, config: config, batches: [])
                return bytes > 0 ? "\(bytes) bytes" : "nothing (allowed for an empty stream)"
            },
            check("format serializes every ABI type, with nulls, in two batches") {
                let bytes = try runFormat(plugin, config: config, batches: [ConformanceData.batch(rows: 5), ConformanceData.batch(rows: 3)])
                return "\(bytes) bytes"
            },
        ]
    }

    private func runFormat(_ plugin: LoadedPlugin, config: String, batches: [BatchBuilder]) throws -> Int {
        var written = 0
        let format = try FormatHandle(plugin: plugin, config: config, context: context(plugin)) { chunk in
            written += chunk.count
            return GW_OK
        }
        try format.begin(OwnedSchema(fields: ConformanceData.fields))
        for builder in batches { try format.write(OwnedBatch(exporting: builder)) }
        try format.finish()
        return written
    }

    private func verifyExporter(_ plugin: LoadedPlugin) -> [Check] {
        let config = workingConfig(plugin) ?? "{}"
        return [
            check("exporter writes a file from an empty stream") {
                try runExporter(plugin, config: config, batches: [])
            },
            check("exporter writes every ABI type, with nulls, in two batches") {
                try runExporter(plugin, config: config, batches: [ConformanceData.batch(rows: 5), ConformanceData.batch(rows: 3)])
            },
        ]
    }

    private func runExporter(_ plugin: LoadedPlugin, config: String, batches: [BatchBuilder]) throws -> String {
        let dir = "\(scratchDirectory)/verify-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let exporter = try ExporterHandle(
            plugin: plugin, config: config, context: context(plugin),
            outputDirectory: dir, baseName: "verify")
        try exporter.begin(OwnedSchema(fields: ConformanceData.fields))
        for builder in batches { try exporter.write(OwnedBatch(exporting: builder)) }
        try exporter.finish()
        let files = exporter.outputFiles()
        guard !files.isEmpty else { throw InvalidInput("finish succeeded but wrote no file") }
        let sizes = files.map { (try? FileManager.default.attributesOfItem(atPath: $0)[.size] as? Int) ?? 0 }
        guard sizes.allSatisfy({ $0 > 0 }) else { throw InvalidInput("wrote an empty file") }
        let ext = plugin.fileExtension ?? ""
        guard files.allSatisfy({ $0.hasSuffix(".\(ext)") || $0.hasSuffix(".zip") }) else {
            throw InvalidInput("wrote files without the declared extension .\(ext)")
        }
        return "\(files.count) file(s), \(sizes.reduce(0, +)) bytes"
    }
}

// MARK: sink

extension PluginVerifier {
    fileprivate func verifySink(_ plugin: LoadedPlugin) -> [Check] {
        var checks = [
            check("sink refuses config that is not JSON") { try expectRefusal(plugin, config: "{not json", open: openSink) },
            check("sink refuses config of the wrong shape") { try expectRefusal(plugin, config: invalidConfig(for: plugin), open: openSink) },
        ]
        guard let example = workingConfig(plugin) else {
            checks.append(
                reported(
                    Check(
                        passed: true, name: "sink writes with its example config",
                        detail: "skipped: the plugin gives no example_config_json (give one with --plugin-config FILE)")))
            return checks
        }
        checks += [
            check("sink commits an empty stream") { try runSink(plugin, config: example, batches: [], commit: true) },
            check("sink writes every ABI type, with nulls, in two batches, and commits") {
                try runSink(plugin, config: example, batches: [ConformanceData.batch(rows: 5), ConformanceData.batch(rows: 3)], commit: true)
            },
            check("sink aborts after a batch") {
                try runSink(plugin, config: example, batches: [ConformanceData.batch(rows: 4)], commit: false)
            },
        ]
        return checks
    }

    private func runSink(_ plugin: LoadedPlugin, config: String, batches: [BatchBuilder], commit: Bool) throws -> String {
        let sinkContext = context(plugin)
        let refused = Mutex(0)
        sinkContext.onRejectedRow { _, _ in refused.withLock { $0 += 1 } }
        let sink = try SinkHandle(plugin: plugin, config: config, context: sinkContext)
        try sink.begin(OwnedSchema(fields: ConformanceData.fields))
        var rows = 0
        for builder in batches {
            let batch = try OwnedBatch(exporting: builder)
            rows += batch.length
            try sink.write(batch)
        }
        guard commit else {
            sink.abort()
            return "aborted after \(rows) rows"
        }
        try sink.commit()
        let rejected = refused.withLock { $0 }
        return "\(rows) rows committed" + (rejected > 0 ? ", \(rejected) reported refused" : "")
    }
}
