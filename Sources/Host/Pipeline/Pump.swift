import PluginKit

/// The one loop every run of rows goes through: a query into a response body, an export
/// into files, an upload or a dataflow into a dataset table. It owns what is the same for
/// all of them: reading the first batch before anything is written (so a failure to start
/// gets its own status), reading ahead, the row limit, stopping between batches, progress, and the
/// end-of-run handshake: the source is finished (a plugin commits its cursor) only after
/// the sink committed, and only when the source was read to its end; on any failure the
/// sink aborts and the source is not finished, so the next run delivers the same rows again.
enum Pump {
    struct Options {
        /// At most this many rows reach the sink (nil: all). A source cut short by the limit
        /// is not finished: the rows after the limit were never delivered.
        var rowLimit: Int?
        /// Throws when the run must stop (cancelled, client gone, time spent); called
        /// before every batch and before the commit.
        var checkStop: () throws -> Void = {}
        /// Called after every batch the sink took.
        var onBatch: (Progress) -> Void = { _ in }
        /// Called last before the sink commits; throwing aborts the sink instead (a run whose
        /// gateway lost its claim on it must not commit).
        var beforeCommit: () throws -> Void = {}
    }

    struct Progress {
        var rowsRead: Int64 = 0
        var rowsWritten: Int64 = 0
        var batches = 0
    }

    struct Result {
        var progress: Progress
        /// True when the source was read to its end and finished.
        var sourceFinished: Bool
        /// The source's finish() failed after the sink committed: the rows are delivered,
        /// but the source will offer them again (at-least-once, never lost).
        var finishFailure: Error?
    }

    static func run(_ source: BatchSource, into sink: BatchSink, _ options: Options = Options()) throws -> Result {
        // The next batch is read on a worker while the sink writes this one: reading and
        // writing overlap on two cores. Not under a row limit, which would read past it, nor
        // for a source that reads ahead on threads of its own already.
        let counters = GatewayMetrics.pipeline(source: type(of: source), sink: type(of: sink))
        let source = options.rowLimit == nil && !source.readsAheadItself ? ReadAheadSource(source) : source
        var progress = Progress()
        var exhausted = false
        defer { counters.record(read: progress.rowsRead, written: progress.rowsWritten) }
        do {
            try options.checkStop()
            var batch = try source.next()
            try sink.begin(source.schema)
            var remaining = options.rowLimit ?? Int.max
            while let current = batch, remaining > 0 {
                try options.checkStop()
                progress.rowsRead += Int64(current.length)
                let out = current.length > remaining ? try cut(current, to: remaining, fields: source.schema.fields) : current
                if out.length > 0 { try sink.write(out) }
                remaining -= out.length
                progress.rowsWritten += Int64(out.length)
                progress.batches += 1
                options.onBatch(progress)
                batch = remaining > 0 ? try source.next() : current
            }
            exhausted = batch == nil
            try options.checkStop()
            try options.beforeCommit()
            try sink.commit()
        } catch {
            sink.failed(error)
            sink.abort()
            throw error
        }
        guard exhausted else { return Result(progress: progress, sourceFinished: false) }
        do {
            try source.finish()
            return Result(progress: progress, sourceFinished: true)
        } catch {
            return Result(progress: progress, sourceFinished: false, finishFailure: error)
        }
    }

    /// The first `rows` rows of `batch`.
    private static func cut(_ batch: OwnedBatch, to rows: Int, fields: [ArrowField]) throws -> OwnedBatch {
        let builder = BatchBuilder(fields: fields)
        try builder.append(batch.view, rows: rows)
        return try OwnedBatch(exporting: builder)
    }
}
