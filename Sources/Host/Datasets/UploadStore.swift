import Foundation

/// Uploaded files, kept in the data folder (`uploads/<dataset>/<stamp>-<name>`) so that
/// `filename` can re-process one later. Names are sanitized: no path ever leaves the
/// dataset's folder.
public struct UploadStore: Sendable {
    public let directory: String
    var scratchDirectory: String { "\(directory)/.incoming" }

    public init(directory: String) {
        self.directory = directory
    }

    /// Moves a received file into the dataset's folder; returns the name it is kept under.
    func keep(_ temporary: String, originalName: String, dataset: String) throws -> String {
        let safe = Self.sanitize(URL(fileURLWithPath: originalName).lastPathComponent)
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        var name = "\(formatter.string(from: Date()))-\(safe)"
        let folder = try folder(for: dataset)
        var n = 1
        while FileManager.default.fileExists(atPath: "\(folder)/\(name)") {
            n += 1
            name = "\(formatter.string(from: Date()))-\(n)-\(safe)"
        }
        try FileManager.default.moveItem(atPath: temporary, toPath: "\(folder)/\(name)")
        return name
    }

    /// The stored file a client names for re-processing.
    func find(_ name: String, dataset: String) throws -> String {
        guard !name.isEmpty, !name.hasPrefix("."), !name.contains("/"), !name.contains("\\"), Self.sanitize(name) == name else {
            throw GatewayError.badRequest("filename must be the name an upload was stored under, e.g. 20261121T080000Z-sales.csv")
        }
        guard FileManager.default.fileExists(atPath: "\(try folder(for: dataset))/\(name)") else {
            throw GatewayError.notFound("no uploaded file '\(name)' for dataset '\(dataset)'")
        }
        return name
    }

    func path(of name: String, dataset: String) -> String {
        "\(directory)/\(Self.sanitize(dataset))/\(name)"
    }

    private func folder(for dataset: String) throws -> String {
        let folder = "\(directory)/\(Self.sanitize(dataset))"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        return folder
    }

    /// Letters (any script), digits, `.`, `-` and `_`; anything else becomes `_`.
    static func sanitize(_ name: String) -> String {
        let cleaned = String(name.map { $0.isLetter || $0.isNumber || $0 == "." || $0 == "-" || $0 == "_" ? $0 : "_" })
        let trimmed = cleaned.drop(while: { $0 == "." })
        return trimmed.isEmpty ? "upload" : String(trimmed.prefix(120))
    }
}
