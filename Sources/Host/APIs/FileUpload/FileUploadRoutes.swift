import Foundation
import Hummingbird
import Logging
import NIOCore
import PluginKit

/// Seed 000's file upload: `POST /etl/api/upload_file_api/`, multipart with the signed
/// fields (`visitor, token, stamp, type`) and `file` (.csv, or .xlsx read by a source
/// plugin), imported into the dataset exactly as a push. `filename` re-processes a file
/// uploaded before; `mail` asks for the result by mail. Reply
/// `{"data": message, "result": "success" | "error"}`.
enum FileUploadRoutes {
    static func register(on routes: GuardedRoutes, styles: EnvelopeStyles, gateway: Gateway) {
        styles.register("/etl", .dataResult)
        routes.post("/etl/api/upload_file_api", access: .signedFields) { request, context -> Response in
            let permit = try await gateway.limiter.acquire(client: context.limiterClient)
            defer { withExtendedLifetime(permit) {} }
            // The signed fields are checked as soon as they have arrived, before a byte of
            // the file is stored (the seed's client sends them first).
            let upload = try await UploadedForm.read(
                request, limit: gateway.config.server.maxBodyBytes,
                scratch: gateway.uploads.scratchDirectory
            ) { fields in
                try DatasetWriteRequest.authorize({ fields[$0] }, gateway: gateway)
            }
            defer { upload.discard() }
            let message = try await importUpload(upload, gateway: gateway, logger: context.logger)
            context.logger.info("file upload", metadata: ["dataset": "\(upload.fields["type"] ?? "")", "result": "\(message)"])
            return Envelope.success(.dataResult, data: Int?.none, message: message, requestId: context.requestId)
        }
    }

    static func importUpload(_ upload: UploadedForm, gateway: Gateway, logger: Logger) async throws -> String {
        let fields = upload.fields
        let write = try upload.authorized ?? DatasetWriteRequest.authorize({ fields[$0] }, gateway: gateway)
        // The signed fields were checked when the file began; `update` may come after it.
        let dataset = write.dataset, update = try DatasetWriteRequest.updateMode(fields["update"])
        let stored: String
        if let file = upload.file {
            stored = try gateway.uploads.keep(file.path, originalName: file.name, dataset: dataset.id)
        } else if let again = fields["filename"], !again.isEmpty {
            stored = try gateway.uploads.find(again, dataset: dataset.id)
        } else {
            throw GatewayError.badRequest("missing field 'file' (or 'filename' to re-process an uploaded file)")
        }
        let path = gateway.uploads.path(of: stored, dataset: dataset.id)
        let rows: Int
        do {
            rows = try await Workers.run { try FileImport.run(path, into: dataset, update: update, gateway: gateway, logger: logger) }
        } catch {
            // A new file that could not be imported is not kept: nothing half-done stays
            // behind to be re-processed by name. (A file named for re-processing stays.)
            if upload.file != nil { try? FileManager.default.removeItem(atPath: path) }
            throw error
        }
        await write.record(.upload, rows: rows, update: update, gateway: gateway, logger: logger)
        var message = "imported \(rows) rows from \(stored) into dataset '\(dataset.id)'"
        if let mail = fields["mail"], !mail.isEmpty {
            message += "; " + (await Mailer(config: gateway.config.smtp).send(result: message, to: mail, subject: "Upload to dataset \(dataset.id)"))
        }
        return message
    }
}

/// Imports a stored file into a dataset: the file's source (CSV, or a source plugin for
/// its extension) pumped into the dataset's table, in one transaction.
enum FileImport {
    static func run(_ path: String, into dataset: Dataset, update: Bool, gateway: Gateway, logger: Logger) throws -> Int {
        do {
            let opener = SourceOpener(gateway: gateway, control: RunControl(timeBudgetSeconds: 0), services: gateway.services.logging(to: logger))
            let source = try opener.open(.file(path: path))
            let sink = try gateway.sinks().open(.datasetTable(dataset, mode: update ? .upsert : .append))
            return Int(try Pump.run(source, into: sink).progress.rowsWritten)
        } catch let e as CSVRowParser.Failure {
            throw GatewayError.badRequest("the CSV file is malformed: \(e.description)")
        } catch let e as ArrowError {
            // The file's own content (text that is not UTF-8, say): the client's to fix.
            throw GatewayError.badRequest("the file cannot be imported: \(e.description)")
        }
    }
}

/// A multipart (or form-encoded) upload: its small fields, and the file part written to a
/// scratch file as it arrives, so that a large upload never sits in memory. The scratch
/// file is removed on every failure (a refused credential, a 413, a client that hangs up);
/// on success the handler moves it or `discard()`s it.
final class UploadedForm: @unchecked Sendable {  // built by one request handler, then read-only
    var fields: [String: String] = [:]
    var file: (name: String, path: String)?
    /// The write the signed fields allow, when they were checked before the file arrived.
    var authorized: DatasetWriteRequest?

    func discard() {
        if let file { try? FileManager.default.removeItem(atPath: file.path) }
        file = nil
    }

    /// The fields that must arrive before the file for it to be checked first.
    static let signedFields = ["visitor", "type", "stamp", "token"]

    /// `authorize` runs once the signed fields are known: before the file part is stored
    /// when they come first, else after the body.
    static func read(
        _ request: Request, limit: Int, scratch: String,
        authorize: @escaping ([String: String]) throws -> DatasetWriteRequest
    ) async throws -> UploadedForm {
        let form = UploadedForm()
        let contentType = request.headers[.contentType] ?? ""
        guard contentType.lowercased().hasPrefix("multipart/form-data") else {
            let body = try await request.collectBody(limit: limit)
            // Decoding a large body is blocking work: off the cooperative pool.
            form.fields = try await Workers.run { try body.withUnsafeReadableBytes { try FormFields($0) } }.values
                .mapValues { String(decoding: $0, as: UTF8.self) }
            return form
        }
        guard let boundary = MultipartFormReader.boundary(contentType) else {
            throw GatewayError.badRequest("multipart/form-data without a boundary (of 1 to 70 characters)")
        }
        do {
            try await form.parse(request.body, boundary: boundary, limit: limit, scratch: scratch, authorize: authorize)
        } catch {
            form.discard()
            throw error
        }
        return form
    }

    /// A write to the scratch file failed (a full disk, most likely): the server's 507.
    static func storageFailure(_ error: Error) -> GatewayError {
        let reason: String =
            switch error {
            case let e as CocoaError where e.code == .fileWriteOutOfSpace: "no space left on the server's disk"
            case let e as POSIXError: String(cString: strerror(e.code.rawValue))
            default: error.localizedDescription
            }
        return GatewayError(.insufficientStorage, "the upload cannot be stored (\(reason)); nothing was imported")
    }

    /// Opens the scratch file for the file part, after checking the signed fields if they came first.
    private func startFile(
        named name: String, fields: [String: String], scratch: String,
        authorize: ([String: String]) throws -> DatasetWriteRequest
    ) throws -> FileHandle {
        if authorized == nil, Self.signedFields.allSatisfy({ fields[$0] != nil }) {
            authorized = try authorize(fields)
        }
        do {
            try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        } catch {
            throw Self.storageFailure(error)
        }
        let path = "\(scratch)/upload-\(UUID().uuidString)"
        guard FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600]),
            let handle = FileHandle(forWritingAtPath: path)
        else {
            throw GatewayError(.insufficientStorage, "the upload cannot be stored: cannot create a file in \(scratch)")
        }
        file = (name, path)
        return handle
    }

    private func parse(
        _ body: RequestBody, boundary: String, limit: Int, scratch: String,
        authorize: @escaping ([String: String]) throws -> DatasetWriteRequest
    ) async throws {
        var output: FileHandle?
        defer { try? output?.close() }
        let reader = MultipartFormReader(
            boundary: boundary,
            fileStart: { [self] name, fields in
                output = try startFile(named: name, fields: fields, scratch: scratch, authorize: authorize)
            },
            fileBytes: { chunk in
                do {
                    try output?.write(contentsOf: chunk.readableBytesView)
                } catch {
                    throw Self.storageFailure(error)
                }
            },
            fileEnd: {
                do {
                    try output?.close()
                    output = nil
                } catch {
                    throw Self.storageFailure(error)
                }
            })
        var received = 0
        for try await chunk in body {
            received += chunk.readableBytes
            guard received <= limit else { throw GatewayError(.contentTooLarge, "request body is larger than \(limit) bytes") }
            try reader.feed(chunk)
        }
        try reader.finish()
        fields = reader.fields
    }
}
