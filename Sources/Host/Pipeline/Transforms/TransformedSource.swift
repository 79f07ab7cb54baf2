import PluginKit
import Synchronization

/// Reshapes batches between a source and the pump: select, rename, cast, constant
/// columns, filter, dedupe (`FlowTransform`). Validated against the source's columns
/// when the run opens, before any row is written.
protocol BatchTransform: AnyObject {
    /// The columns this transform makes from `input`; throws when it names one that is missing.
    func fields(for input: [ArrowField]) throws -> [ArrowField]
    /// The batch reshaped (it may hold fewer rows, or none).
    func apply(_ batch: OwnedBatch, output: [ArrowField]) throws -> OwnedBatch
}

/// A source whose batches go through transforms, in order. Finishing it finishes the
/// source underneath.
final class TransformedSource: BatchSource {
    let schema: OwnedSchema
    private let inner: BatchSource
    private let steps: [(BatchTransform, [ArrowField])]
    /// Rows read from the source underneath, before any transform dropped some.
    var rowsRead: Int64 { read.load(ordering: .relaxed) }
    // Atomic: a read-ahead reader counts while the pump's progress reads it.
    private let read = Atomic<Int64>(0)

    init(_ inner: BatchSource, transforms: [BatchTransform]) throws {
        self.inner = inner
        var fields = inner.schema.fields
        var steps: [(BatchTransform, [ArrowField])] = []
        for transform in transforms {
            fields = try transform.fields(for: fields)
            steps.append((transform, fields))
        }
        self.steps = steps
        schema = OwnedSchema(fields: fields)
    }

    func next() throws -> OwnedBatch? {
        while let batch = try inner.next() {
            read.add(Int64(batch.length), ordering: .relaxed)
            var out = batch
            for (transform, fields) in steps { out = try transform.apply(out, output: fields) }
            // A batch filtered down to nothing is skipped: an empty batch is not the end.
            if out.length > 0 { return out }
        }
        return nil
    }

    func finish() throws { try inner.finish() }
    func willBeReadAhead() { inner.willBeReadAhead() }
    var commitsOnFinish: Bool { inner.commitsOnFinish }
}
