import Foundation
import Hummingbird

/// Seed 000: `POST /echart/dataset_api/`, clients push rows into a dataset with a signed
/// token. Envelope `{"status": 200, "msg": "success"}`; errors the same with their status.
enum DatasetPushRoutes {
    static func register(on routes: GuardedRoutes, styles: EnvelopeStyles, gateway: Gateway) {
        styles.register("/echart", .statusMsg)
        routes.post("/echart/dataset_api", access: .signedFields) { request, context -> Response in
            // Counted by address: the credential is inside the body, which is read first.
            let permit = try await gateway.limiter.acquire(client: context.limiterClient)
            defer { withExtendedLifetime(permit) {} }
            let fields = try await readFields(request, limit: gateway.config.server.maxBodyBytes)
            let (write, rows) = try await push(fields, gateway: gateway)
            context.logger.info("dataset push", metadata: ["dataset": "\(write.dataset.id)", "rows": "\(rows)", "visitor": "\(write.visitor)"])
            await write.record(.push, rows: rows, update: write.update, gateway: gateway, logger: context.logger)
            return Envelope.success(.statusMsg, data: Int?.none, requestId: context.requestId)
        }
    }

    /// The form fields, from a form-encoded body (as the seed sends) or a JSON object. Read
    /// on a worker (a 64 MB body is seconds of work, which must not hold one of the
    /// cooperative threads every request needs), and without building a tree of objects:
    /// `ds` stays the bytes it was sent as.
    static func readFields(_ request: Request, limit: Int) async throws -> FormFields {
        let body = try await request.collectBody(limit: limit)
        let contentType = request.headers[.contentType]?.lowercased() ?? ""
        return try await Workers.run {
            try body.withUnsafeReadableBytes { bytes in
                guard contentType.contains("json") else { return try FormFields(bytes) }
                return FormFields(values: try JSONObjectFields.parse(bytes, maxFields: FormFields.maxPairs))
            }
        }
    }

    /// Pushes larger than this are parsed on a second thread while the first one writes.
    static let relayThreshold = 1 << 20

    /// Parses `ds` into the importer: directly for small pushes, through a RowRelay (parse
    /// on one core, SQLite on the other) for large ones.
    static func feed(_ ds: [UInt8], into importer: inout DatasetImport) throws {
        guard ds.count >= relayThreshold else {
            _ = try ds.withUnsafeBytes { try RowArrayParser.parse($0, into: &importer) }
            return
        }
        let relay = RowRelay()
        // A thread of its own: parsing a large push takes seconds, and Dispatch's global
        // queues share their threads with the tasks that serve HTTP (see DedicatedThreads).
        Thread.detachNewThread {
            guard var producer = try? RowRelay.Producer(relay: relay) else { return }
            do {
                _ = try ds.withUnsafeBytes { try RowArrayParser.parse($0, into: &producer) }
                producer.finish(failure: nil)
            } catch is RowRelay.Stopped {
                return
            } catch {
                producer.finish(failure: error)
            }
        }
        try relay.drain(into: &importer)
    }

    /// Authenticates, finds the dataset and writes the rows; returns who and how many.
    static func push(_ fields: FormFields, gateway: Gateway) async throws -> (DatasetWriteRequest, Int) {
        let write = try DatasetWriteRequest.authorize({ fields[$0] }, gateway: gateway)
        let dataset = write.dataset, update = write.update
        guard let ds = fields.values["ds"], !ds.isEmpty else { throw GatewayError.badRequest("missing field 'ds'") }
        let tables = gateway.datasetTables
        return (
            write,
            try await Workers.run {
                do {
                    return try tables.write(dataset, update: update) { importer in
                        try feed(ds, into: &importer)
                    }
                } catch let e as RowArrayParser.Failure {
                    throw GatewayError.badRequest("ds is not a valid 2-D JSON array: \(e.description)")
                } catch let e as SQLiteError {
                    throw GatewayError(.internalServerError, "writing dataset '\(dataset.id)' failed: \(e.message)")
                }
            }
        )
    }
}
