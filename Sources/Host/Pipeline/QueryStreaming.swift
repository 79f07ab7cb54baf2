import Foundation
import Hummingbird
import Logging
import NIOCore
import PluginABI
import PluginKit

/// A batch source handed from one worker thread to the next.
/// @unchecked Sendable: it is used by one thread at a time, in sequence.
final class SourceBox: @unchecked Sendable {
    let source: BatchSource
    init(_ source: BatchSource) { self.source = source }
}

/// Stops a source after `limit` rows, cutting the last batch (for sources that cannot
/// apply the limit themselves).
final class LimitedSource: BatchSource {
    private let inner: BatchSource
    private var remaining: Int

    init(_ inner: BatchSource, limit: Int) {
        self.inner = inner
        remaining = limit
    }

    var schema: OwnedSchema { inner.schema }

    func next() throws -> OwnedBatch? {
        guard remaining > 0, let batch = try inner.next() else { return nil }
        guard batch.length > remaining else {
            remaining -= batch.length
            return batch
        }
        let cut = BatchBuilder(fields: schema.fields)
        try cut.append(batch.view, rows: remaining)
        remaining = 0
        return try OwnedBatch(exporting: cut)
    }
}

/// Where query rows go: the host's JSON writer, or a format plugin.
enum OutputFormat: Sendable {
    case json
    case plugin(LoadedPlugin)

    var contentType: String {
        switch self {
        case .json: "application/json; charset=utf-8"
        case .plugin(let p): p.mediaType ?? "application/octet-stream"
        }
    }

    /// "json" is built in; any other name is a format plugin's (`format=arrow`).
    static func named(_ name: String, registry: PluginRegistry) throws -> OutputFormat {
        if name.lowercased() == "json" { return .json }
        guard let plugin = registry.active.first(where: { $0.formatName?.lowercased() == name.lowercased() }) else {
            let names = ["json"] + registry.active.compactMap(\.formatName)
            throw APIError(.notAcceptable, "no format '\(name)' is available (loaded: \(names.joined(separator: ", ")))")
        }
        return .plugin(plugin)
    }
}

/// The output end of the one data path: batches from a source, serialized as they come,
/// streamed to the client with back-pressure. Constant memory whatever the row count.
enum QueryStreaming {
    static func response(_ box: SourceBox, format: OutputFormat, services: HostServiceProvider, logger: Logger) -> Response {
        let body = ResponseBody { writer in
            let channel = ByteChannel()
            Workers.pool.submit { _ in produce(box, format: format, services: services, into: channel) }
            do {
                while let chunk = try await channel.next() { try await writer.write(chunk) }
            } catch {
                channel.cancel()
                logger.error("query stream ended early: \(error)")
                throw error
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: format.contentType], body: body)
    }

    private struct ClientGone: Error {}

    /// Runs on a worker: reads every batch and writes it out through the channel.
    private static func produce(_ box: SourceBox, format: OutputFormat, services: HostServiceProvider, into channel: ByteChannel) {
        let source = box.source
        do {
            switch format {
            case .json:
                var writer = JSONRowWriter { chunk in guard channel.send(chunk) else { throw ClientGone() } }
                writer.begin(source.schema.fields)
                while let batch = try source.next() { try writer.write(batch.view) }
                try writer.finish()
            case .plugin(let plugin):
                let context = InstanceContext(pluginId: plugin.id, instanceName: "query", services: services)
                let formatter = try FormatHandle(plugin: plugin, config: "{}", context: context) { bytes in
                    channel.send(ByteBuffer(bytes: bytes)) ? GW_OK : GW_CANCELLED
                }
                try formatter.begin(source.schema)
                while let batch = try source.next() {
                    if channel.isCancelled { context.cancel(); throw ClientGone() }
                    try formatter.write(batch)
                }
                try formatter.finish()
            }
            channel.finish()
        } catch {
            channel.finish(error: error)
        }
    }
}
