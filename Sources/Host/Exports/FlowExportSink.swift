import Foundation
import PluginKit

/// A dataflow's export target: an export task of its own (listed under user_id
/// `dataflow:ID`, downloadable by the signed links and owner rules of seed 002's files),
/// whose files an `ExportFilesSink` writes. Committed when the archive is complete and the
/// task marked done; aborted, the task ends failed and its files are removed.
final class FlowExportSink: BatchSink {
    let task: ExportTask
    private let files: BatchSink
    private let work: String
    private let exports: ExportService

    init(exports: ExportService, task: ExportTask, files: BatchSink, work: String) {
        self.exports = exports
        self.task = task
        self.files = files
        self.work = work
    }

    deinit { try? FileManager.default.removeItem(atPath: work) }

    func begin(_ schema: OwnedSchema) throws { try files.begin(schema) }

    func write(_ batch: OwnedBatch) throws { try files.write(batch) }

    func commit() throws {
        try files.commit()
        try? FileManager.default.removeItem(atPath: work)
        guard exports.finish(task, .success, file: "\(task.hashKey).zip") else {
            throw InvalidInput("the export task \(task.hashKey) was ended elsewhere")
        }
        exports.log(task.id, "done: written by a dataflow run")
    }

    func abort() {
        files.abort()
        try? FileManager.default.removeItem(atPath: work)
        if exports.finish(task, .failed, failReason: "the dataflow run failed") {
            exports.log(task.id, "failed: the dataflow run failed")
        }
    }
}

extension ExportService {
    /// Opens the files of a dataflow run's export: a new task (`ext_type` XLSX, CSV or any
    /// exporter plugin's) and the sink that writes it.
    func flowExportSink(title: String, extType: String, userId: String, context: InstanceContext) throws -> FlowExportSink {
        let key = Crypto.hex(Crypto.randomBytes(16))
        let task = try store.insertTask(
            hashKey: key, requestHash: key, owner: "", userId: userId, title: title,
            extType: extType.uppercased(), sourceType: "dataflow", request: "{}", callback: "")
        log(task.id, "created by a dataflow run")
        let work = "\(directory)/\(key).work"
        do {
            try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
            let files = try sinks.open(
                .exportFiles(
                    extType: extType, options: [:], workDirectory: work, baseName: Self.fileName(title),
                    archivePath: "\(directory)/\(key).zip", task: context))
            return FlowExportSink(exports: self, task: task, files: files, work: work)
        } catch {
            try? FileManager.default.removeItem(atPath: work)
            finish(task, .failed, failReason: "\(error)")
            throw error
        }
    }
}
