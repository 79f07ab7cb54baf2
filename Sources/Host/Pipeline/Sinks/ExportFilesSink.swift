import Foundation
import PluginABI
import PluginKit

/// An export's files: written into a work folder by an exporter plugin (XLSX) or the
/// host's CSV writer, and on commit packaged into one zip archive for download. Committed
/// when the archive is complete on disk; an aborted export leaves no archive.
final class ExportFilesSink: BatchSink {
    private let writer: ExportFileWriter
    private let workDirectory: String
    private let archivePath: String

    init(writer: ExportFileWriter, workDirectory: String, archivePath: String) {
        self.writer = writer
        self.workDirectory = workDirectory
        self.archivePath = archivePath
    }

    func begin(_ schema: OwnedSchema) throws { try writer.begin(schema) }

    func write(_ batch: OwnedBatch) throws { try writer.write(batch) }

    func commit() throws {
        try writer.finish()
        do {
            try package()
        } catch {
            try? FileManager.default.removeItem(atPath: archivePath)
            throw error
        }
    }

    func abort() {
        try? FileManager.default.removeItem(atPath: archivePath)
    }

    /// Zips the files written (already compressed: stored as they are) into the archive.
    private func package() throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: workDirectory).sorted()
        guard !names.isEmpty else { throw PluginError(status: GW_INTERNAL, "the exporter wrote no file") }
        let zip = try ZipWriter(path: archivePath)
        for name in names {
            try zip.beginEntry(name, method: .stored)
            let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: "\(workDirectory)/\(name)"))
            defer { try? handle.close() }
            while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty {
                try chunk.withUnsafeBytes { try zip.write($0) }
            }
        }
        try zip.finish()
    }
}
