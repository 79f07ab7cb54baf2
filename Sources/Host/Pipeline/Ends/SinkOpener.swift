import Foundation
import NIOCore
import PluginABI
import PluginKit

/// Opens every sink the pipeline writes into (`SinkSpec`), and is the only code that makes
/// a format, exporter or sink plugin's instance.
struct SinkOpener: Sendable {
    let registry: PluginRegistry
    /// Sink plugins run in process or in workers (`plugins.isolation`).
    let instances: PluginInstanceOpener
    let services: HostServiceProvider
    let tables: any DatasetTables
    /// `plugins.config`: each plugin's own settings.
    let pluginConfigs: [String: JSONValue]
    /// `exports.maxRowsPerFile`, given to exporters (0: no limit).
    let maxRowsPerFile: Int

    func open(_ spec: SinkSpec) throws -> BatchSink {
        switch spec {
        case .responseBody(let format, let channel, let control, let awaitDelivery, let describe):
            return try responseBody(format, channel: channel, control: control, awaitDelivery: awaitDelivery, describe: describe)
        case .datasetTable(let dataset, let mode):
            return DatasetTableSink(tables: tables, dataset: dataset, mode: mode)
        case .exportFiles(let extType, let options, let work, let baseName, let archive, let task):
            let writer = try fileWriter(extType, options: options, workDirectory: work, baseName: baseName, task: task)
            return ExportFilesSink(writer: writer, workDirectory: work, archivePath: archive)
        case .plugin(let id, let config, let instance, let control, let onLog, let onRejected):
            let plugin = try registry.sink(id: id)
            // A plugin whose workers keep crashing waits out its backoff.
            try instances.health.checkStart(plugin.id)
            let context = InstanceContext(pluginId: plugin.id, instanceName: instance, services: services)
            control.onStop { context.cancel() }
            context.onLog(onLog)
            return DestinationSink(try instances.sink(plugin, config: config, context: context), onRejected: onRejected)
        }
    }

    /// The format plugin's instance is made here, before the first batch: a config it
    /// refuses is the response's status, not a cut body.
    private func responseBody(
        _ format: OutputFormat, channel: ByteChannel, control: RunControl, awaitDelivery: Bool,
        describe: @escaping @Sendable (Error) -> GatewayError
    ) throws -> ResponseBodySink {
        let started = Flag()
        guard case .plugin(let plugin, let config) = format else {
            return ResponseBodySink(formatter: nil, channel: channel, awaitDelivery: awaitDelivery, started: started, describe: describe)
        }
        try instances.health.checkStart(plugin.id)
        let context = InstanceContext(pluginId: plugin.id, instanceName: "query", services: services)
        control.onStop { context.cancel() }
        let counted = GatewayMetrics.responseBytes(format: plugin.formatName ?? plugin.id)
        let formatter = try PluginUseCheck.openingConfigured("format '\(plugin.formatName ?? plugin.id)'") { () throws(PluginError) in
            try instances.format(plugin, config: config, context: context) { bytes in
                counted.increment(by: bytes.count)
                guard channel.send(ByteBuffer(bytes: bytes)) else { return GW_CANCELLED }
                started.set()
                return GW_OK
            }
        }
        return ResponseBodySink(formatter: formatter, channel: channel, awaitDelivery: awaitDelivery, started: started, describe: describe)
    }

    /// The exporter plugin for an `ext_type`; nil for "CSV", which is built in.
    func exporter(for extType: String) throws -> LoadedPlugin? {
        if extType.uppercased() == "CSV" { return nil }
        guard let plugin = registry.exporter(named: extType) else {
            let known = ["CSV"] + registry.exporterNames
            throw GatewayError.badRequest("ext_type '\(extType)' is not available (use one of \(known.joined(separator: ", ")))")
        }
        return plugin
    }

    /// What an exporter is opened with, later layers winning: `exports.maxRowsPerFile`, the
    /// plugin's own config, then the request's `ext_options`.
    func exporterConfig(_ plugin: LoadedPlugin, options: [String: JSONValue]) -> JSONValue {
        var settings: [String: JSONValue] = [:]
        if maxRowsPerFile > 0 { settings["max_rows_per_file"] = .number(maxRowsPerFile) }
        if case .object(let own)? = pluginConfigs[plugin.id] { settings.merge(own) { $1 } }
        settings.merge(options) { $1 }
        return .object(settings)
    }

    /// The writer for an `ext_type`, writing into `workDirectory`.
    private func fileWriter(
        _ extType: String, options: [String: JSONValue], workDirectory: String, baseName: String,
        task: InstanceContext
    ) throws -> ExportFileWriter {
        guard let plugin = try exporter(for: extType) else {
            return try CSVExport(path: "\(workDirectory)/\(baseName).csv")
        }
        try instances.health.checkStart(plugin.id)
        let json = exporterConfig(plugin, options: options).text
        // The exporter's own context: its progress() must not overwrite the task's (which
        // counts the source's pages or rows); a cancel of the export reaches it.
        let own = InstanceContext(pluginId: plugin.id, instanceName: task.instanceName, services: task.services)
        task.onCancel { own.cancel() }
        return try PluginUseCheck.openingConfigured("exporter '\(plugin.exporterName ?? plugin.id)'") { () throws(PluginError) in
            PluginExport(try instances.exporter(plugin, config: json, context: own, outputDirectory: workDirectory, baseName: baseName))
        }
    }
}
