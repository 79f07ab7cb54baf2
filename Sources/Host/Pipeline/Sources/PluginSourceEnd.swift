import PluginKit

/// A source plugin's instance as the pipeline reads it, wherever it runs (see
/// `PluginInstanceOpener`): its reads are batch sources, and `finish` commits its cursor.
struct PluginSourceEnd {
    let instance: any SourceInstance

    init(_ instance: any SourceInstance) { self.instance = instance }

    func read(requestJSON: String) throws -> BatchSource { PluginSource(try instance.rows(requestJSON: requestJSON)) }
}

/// One read of a source plugin, as a batch source.
final class PluginSource: BatchSource {
    private let rows: any SourceRows

    init(_ rows: any SourceRows) { self.rows = rows }

    var schema: OwnedSchema { rows.schema }
    func next() throws -> OwnedBatch? { try rows.next() }
    func finish() throws { try rows.finish() }
    func willBeReadAhead() { rows.willBeReadAhead() }
}
