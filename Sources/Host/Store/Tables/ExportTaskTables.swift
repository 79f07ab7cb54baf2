import Foundation

/// Export tasks and their logs in the store.
extension SQLStore: ExportTaskRepository {
    static let taskColumns =
        "id, hash_key, user_id, title, ext_type, source_type, request, callback, status, fail_reason, progress_done, progress_total, file, created_at, finished_at, owner, worker, attempt"

    public func insertTask(
        hashKey: String, requestHash: String, owner: String, userId: String, title: String, extType: String,
        sourceType: String, request: String, callback: String, sealedRequest: String
    ) throws -> ExportTask {
        try withConnection { db in
            try db.run(
                """
                INSERT INTO export_tasks (hash_key, request_hash, owner, user_id, title, ext_type, source_type, request, callback, status, created_at, worker, lease_until, sealed_request)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?)
                """,
                [
                    .text(hashKey), .text(requestHash), .text(owner), .text(userId), .text(title), .text(extType), .text(sourceType),
                    .text(request), .text(callback), .int(Int64(clock.now.timeIntervalSince1970)), .text(worker), leaseEnd, .text(sealedRequest),
                ])
            return try Self.task(db.query("SELECT \(Self.taskColumns) FROM export_tasks WHERE hash_key = ?", [.text(hashKey)])[0])
        }
    }

    public func task(hashKey: String) throws -> ExportTask? {
        try withConnection { db in
            try db.query("SELECT \(Self.taskColumns) FROM export_tasks WHERE hash_key = ?", [.text(hashKey)]).first.map(Self.task)
        }
    }

    public func task(requestHash: String) throws -> ExportTask? {
        try withConnection { db in
            try db.query(
                "SELECT \(Self.taskColumns) FROM export_tasks WHERE request_hash = ? ORDER BY id DESC LIMIT 1",
                [.text(requestHash)]
            ).first.map(Self.task)
        }
    }

    /// Tasks created since `since`, newest first: of one user (nil: of every user), and of
    /// one owner token (nil: every owner's).
    public func tasks(userId: String?, since: Date, owner: String?) throws -> [ExportTask] {
        try withConnection { db in
            var sql = "SELECT \(Self.taskColumns) FROM export_tasks WHERE created_at >= ?"
            var values: [SQLValue] = [.int(Int64(since.timeIntervalSince1970))]
            if let userId { sql += " AND user_id = ?"; values.append(.text(userId)) }
            if let owner { sql += " AND owner = ?"; values.append(.text(owner)) }
            return try db.query(sql + " ORDER BY created_at DESC, id DESC", values).map(Self.task)
        }
    }

    public func ownUnfinishedTasks() throws -> [ExportTask] {
        try withConnection { db in
            try db.query("SELECT \(Self.taskColumns) FROM export_tasks WHERE status = 1 AND worker IN (?, '')", [.text(worker)]).map(Self.task)
        }
    }

    public func tasks(createdBefore: Date) throws -> [ExportTask] {
        try withConnection { db in
            try db.query("SELECT \(Self.taskColumns) FROM export_tasks WHERE created_at < ?", [.int(Int64(createdBefore.timeIntervalSince1970))]).map(Self.task)
        }
    }

    public func updateProgress(taskId: Int64, attempt: Int64, done: Int64, total: Int64) throws {
        try withConnection { db in
            try db.run(
                "UPDATE export_tasks SET progress_done = ?, progress_total = ? WHERE id = ? AND status = 1 AND attempt = ?",
                [.int(done), .int(total), .int(taskId), .int(attempt)])
        }
    }

    /// Ends a task that is still processing; returns false if it had already ended. Its
    /// sealed request goes: an ended task is never restarted.
    public func finishTask(id: Int64, status: ExportTask.Status, failReason: String, file: String, at time: Date?, attempt: Int64?) throws -> Bool {
        let now = Int64((time ?? clock.now).timeIntervalSince1970)
        let ended = try withConnection { db in
            try db.query(
                """
                UPDATE export_tasks SET status = ?, fail_reason = ?, file = ?, finished_at = ?, sealed_request = ''
                WHERE id = ? AND status = 1 AND attempt = COALESCE(?, attempt) RETURNING created_at
                """,
                [.int(Int64(status.rawValue)), .text(failReason), .text(file), .int(now), .int(id), attempt.map(SQLValue.int) ?? .null])
        }
        guard let createdAt = ended.first?.first?.int else { return false }
        GatewayMetrics.runEnded(kind: "export", outcome: "\(status)", seconds: Double(now) - Double(createdAt))
        return true
    }

    public func deleteTask(id: Int64) throws {
        try withConnection { db in
            try db.transaction {
                try db.run("DELETE FROM export_logs WHERE task_id = ?", [.int(id)])
                try db.run("DELETE FROM export_tasks WHERE id = ?", [.int(id)])
            }
        }
    }

    public func logTask(id: Int64, _ message: String) throws {
        try withConnection { db in
            try db.run(
                "INSERT INTO export_logs (task_id, at, message) VALUES (?, ?, ?)",
                [.int(id), .int(Int64(clock.now.timeIntervalSince1970)), .text(message)])
        }
    }

    public func taskLogs(id: Int64) throws -> [String] {
        try withConnection { db in
            // SQLite's rowid, PostgreSQL's identity column: the order lines were written in.
            let order = db.dialect == .sqlite ? "rowid" : "id"
            return try db.query("SELECT message FROM export_logs WHERE task_id = ? ORDER BY \(order)", [.int(id)]).compactMap { $0[0].text }
        }
    }

    static func task(_ r: [SQLValue]) -> ExportTask {
        ExportTask(
            id: r[0].int ?? 0, hashKey: r[1].text ?? "", userId: r[2].text ?? "", title: r[3].text ?? "",
            extType: r[4].text ?? "", sourceType: r[5].text ?? "", request: r[6].text ?? "", callback: r[7].text ?? "",
            status: ExportTask.Status(rawValue: Int(r[8].int ?? 3)) ?? .failed, failReason: r[9].text ?? "",
            progressDone: r[10].int ?? 0, progressTotal: r[11].int ?? -1, file: r[12].text ?? "",
            createdAt: Date(timeIntervalSince1970: TimeInterval(r[13].int ?? 0)),
            finishedAt: r[14].int.map { Date(timeIntervalSince1970: TimeInterval($0)) }, owner: r[15].text ?? "",
            gateway: r[16].text ?? "", attempt: r[17].int ?? 1)
    }
}
