import Foundation

/// Who pushed or uploaded what into each dataset (seed 000's visitors).
extension SQLStore: DatasetWriteRepository {
    /// Records older than this are dropped as new ones come.
    static let datasetWriteDays = 90

    public func recordDatasetWrite(_ write: DatasetWrite) throws {
        try withConnection { db in
            try db.transaction {
                let cutoff = Int64(clock.now.timeIntervalSince1970) - Int64(Self.datasetWriteDays * 86_400)
                try db.run("DELETE FROM dataset_writes WHERE at < ?", [.int(cutoff)])
                try db.run(
                    "INSERT INTO dataset_writes (dataset_id, visitor, identity, kind, rows, is_update, at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [
                        .text(write.datasetId), .text(write.visitor), .text(write.identity), .text(write.kind.rawValue), .int(write.rows),
                        .int(write.update ? 1 : 0), .int(Int64(write.at.timeIntervalSince1970)),
                    ])
            }
        }
    }

    public func datasetWrites(datasetId: String, limit: Int) throws -> [DatasetWrite] {
        try withConnection { db in
            try db.query(
                "SELECT visitor, identity, kind, rows, is_update, at FROM dataset_writes WHERE dataset_id = ? ORDER BY at DESC, rows DESC LIMIT ?",
                [.text(datasetId), .int(Int64(limit))])
        }.map { r in
            DatasetWrite(
                datasetId: datasetId, visitor: r[0].text ?? "", identity: r[1].text ?? "", kind: DatasetWrite.Kind(rawValue: r[2].text ?? "") ?? .push,
                rows: r[3].int ?? 0, update: r[4].int == 1, at: Date(timeIntervalSince1970: Double(r[5].int ?? 0)))
        }
    }
}
