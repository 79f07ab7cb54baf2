import Foundation

/// Dataflows, tags, links, runs and logs in the store. Every change that touches several
/// rows is one transaction.
extension SQLStore: DataflowRepository {
    static let flowColumns = "id, name, en_name, description, status, created_by, config, created_at, updated_at, run_as"
    static let runColumns =
        "id, execution_id, dataflow_id, status, trigger, params, progress, rows_read, rows_written, error_message, export_key, started_at, completed_at, rows_rejected, worker, attempt"

    // MARK: flows

    /// A page of flows (newest first) whose name or description contains `search`, and how many match in all.
    public func dataflows(page: Int, pageSize: Int, search: String) throws -> (list: [Dataflow], total: Int) {
        try withConnection { db in
            let pattern =
                "%"
                + search.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "%", with: "\\%")
                .replacingOccurrences(of: "_", with: "\\_") + "%"
            let filter = search.isEmpty ? "" : " WHERE name LIKE ? ESCAPE '\\' OR description LIKE ? ESCAPE '\\'"
            let args: [SQLValue] = search.isEmpty ? [] : [.text(pattern), .text(pattern)]
            let total = try db.query("SELECT count(*) FROM dataflows\(filter)", args).first?.first?.int ?? 0
            let rows = try db.query(
                "SELECT \(Self.flowColumns) FROM dataflows\(filter) ORDER BY id DESC LIMIT ? OFFSET ?",
                args + [.int(Int64(pageSize)), .int(Int64((page - 1) * pageSize))])
            return (rows.map(Self.flow), Int(total))
        }
    }

    public func dataflow(id: Int64) throws -> Dataflow? {
        try withConnection { db in try Self.flow(db, id) }
    }

    /// Every active flow's id and config revision: what the scheduler looks at each tick,
    /// reading a config again only when its revision changed.
    public func activeRevisions() throws -> [(id: Int64, revision: Int64)] {
        try withConnection { db in
            try db.query("SELECT id, revision FROM dataflows WHERE status = 'active'").map { ($0[0].int ?? 0, $0[1].int ?? 0) }
        }
    }

    /// A flow's config and its revision, if the flow is (still) active.
    public func activeConfig(id: Int64) throws -> (config: String, revision: Int64)? {
        try withConnection { db in
            try db.query("SELECT config, revision FROM dataflows WHERE id = ? AND status = 'active'", [.int(id)]).first.map {
                ($0[0].text ?? "{}", $0[1].int ?? 0)
            }
        }
    }

    /// Every flow whose status is "active".
    public func activeDataflows() throws -> [Dataflow] {
        try withConnection { db in
            try db.query("SELECT \(Self.flowColumns) FROM dataflows WHERE status = 'active'").map(Self.flow)
        }
    }

    /// Creates a flow with a unique `en_name` (`base`, else `base_2`, `base_3`, …), its
    /// children and its tag, in one transaction.
    public func insertDataflow(_ new: NewFlow, enNameBase: String) throws -> Dataflow {
        try withConnection { db in
            try db.transaction {
                var enName = enNameBase, n = 1
                while try db.query("SELECT 1 FROM dataflows WHERE en_name = ?", [.text(enName)]).first != nil {
                    n += 1
                    enName = "\(enNameBase)_\(n)"
                }
                let now = Int64(clock.now.timeIntervalSince1970)
                let inserted = try db.query(
                    """
                    INSERT INTO dataflows (name, en_name, description, status, created_by, config, created_at, updated_at, run_as)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id
                    """,
                    [
                        .text(new.name), .text(enName), .text(new.description), .text(new.status), .text(new.createdBy),
                        .text(new.config), .int(now), .int(now), .text(try Self.identityText(new.runAs)),
                    ])
                guard let id = inserted.first?.first?.int else { throw InvalidInput("the new flow has no id") }
                try Self.setChildren(db, parent: id, new.childrenIds)
                if let tag = new.tagId { try Self.addTag(db, flow: id, tag: tag) }
                guard let flow = try Self.flow(db, id) else { throw InvalidInput("the new flow vanished") }
                return flow
            }
        }
    }

    /// Applies the fields given; nil when there is no such flow.
    public func updateDataflow(id: Int64, _ changes: FlowChanges) throws -> Dataflow? {
        try withConnection { db in
            try db.transaction {
                guard try Self.flow(db, id) != nil else { return nil }
                var sets: [String] = [], args: [SQLValue] = []
                // Every change records who made it: the flow's runs read as them from now on.
                let runAs = try Self.identityText(changes.runAs)
                for (column, value) in [
                    ("name", changes.name), ("description", changes.description), ("status", changes.status), ("config", changes.config),
                    ("run_as", runAs),
                ] {
                    guard let value else { continue }
                    sets.append("\(column) = ?")
                    args.append(.text(value))
                }
                sets.append("updated_at = ?, revision = revision + 1")
                args.append(.int(Int64(clock.now.timeIntervalSince1970)))
                try db.run("UPDATE dataflows SET \(sets.joined(separator: ", ")) WHERE id = ?", args + [.int(id)])
                if let children = changes.childrenIds { try Self.setChildren(db, parent: id, children) }
                if let tag = changes.tagId { try Self.addTag(db, flow: id, tag: tag) }
                return try Self.flow(db, id)
            }
        }
    }

    /// Deletes a flow with its links, tags, runs and logs; false when there was none.
    /// Throws RunConflict while a run of it is pending or running (its own, or a parent's
    /// step of it): deleting it would orphan the run, which could then not be cancelled.
    public func deleteDataflow(id: Int64) throws -> Bool {
        try withConnection { db in
            try db.transaction {
                if let active = try db.query(
                    "SELECT execution_id FROM dataflow_runs WHERE dataflow_id = ? AND status IN ('pending', 'running')",
                    [.int(id)]
                ).first?.first?.text {
                    throw RunConflict(executionId: active)
                }
                return try db.run("DELETE FROM dataflows WHERE id = ?", [.int(id)]) > 0
            }
        }
    }

    public func children(of id: Int64) throws -> [DataflowRef] {
        try withConnection { db in
            try db.query(
                "SELECT d.id, d.name FROM dataflow_links l JOIN dataflows d ON d.id = l.child_id WHERE l.parent_id = ? ORDER BY l.position",
                [.int(id)]
            ).map(Self.ref)
        }
    }

    public func parents(of id: Int64) throws -> [DataflowRef] {
        try withConnection { db in
            try db.query(
                "SELECT d.id, d.name FROM dataflow_links l JOIN dataflows d ON d.id = l.parent_id WHERE l.child_id = ? ORDER BY d.id",
                [.int(id)]
            ).map(Self.ref)
        }
    }

    /// Replaces a flow's children, in order. Refuses an unknown id and any link that would
    /// make a cycle (a flow its own ancestor).
    private static func setChildren(_ db: any SQLSession, parent: Int64, _ children: [Int64]) throws {
        var seen = Set<Int64>()
        for child in children {
            guard seen.insert(child).inserted else { throw FlowInputError("children_ids names flow \(child) twice") }
            guard child != parent else { throw FlowInputError("a dataflow cannot be its own child (\(child))") }
            guard try flow(db, child) != nil else { throw FlowInputError("children_ids: there is no dataflow \(child)") }
            // A cycle: the parent is already below the child.
            if try descendants(db, of: child).contains(parent) {
                throw FlowInputError("children_ids: making \(child) a child of \(parent) would make a cycle (\(child) already runs \(parent))")
            }
        }
        try db.run("DELETE FROM dataflow_links WHERE parent_id = ?", [.int(parent)])
        for (position, child) in children.enumerated() {
            try db.run("INSERT INTO dataflow_links (parent_id, child_id, position) VALUES (?, ?, ?)", [.int(parent), .int(child), .int(Int64(position))])
        }
    }

    /// Every flow below `id`, at any depth.
    private static func descendants(_ db: any SQLSession, of id: Int64) throws -> Set<Int64> {
        let rows = try db.query(
            """
            WITH RECURSIVE below(id) AS (SELECT child_id FROM dataflow_links WHERE parent_id = ?
              UNION SELECT l.child_id FROM dataflow_links l JOIN below b ON l.parent_id = b.id)
            SELECT id FROM below
            """, [.int(id)])
        return Set(rows.compactMap { $0.first?.int })
    }

    // MARK: tags

    public func createTag(name: String) throws -> DataflowTag {
        try withConnection { db in
            // The name's unique index decides between two gateways adding the same tag.
            try db.run(
                "INSERT INTO dataflow_tags (name, created_at) VALUES (?, ?) ON CONFLICT DO NOTHING",
                [.text(name), .int(Int64(clock.now.timeIntervalSince1970))])
            guard let row = try db.query("SELECT id, name FROM dataflow_tags WHERE name = ?", [.text(name)]).first else {
                throw InvalidInput("the new tag '\(name)' vanished")
            }
            return DataflowTag(id: row[0].int ?? 0, name: row[1].text ?? "")
        }
    }

    public func tags() throws -> [DataflowTag] {
        try withConnection { db in
            try db.query("SELECT id, name FROM dataflow_tags ORDER BY id").map { DataflowTag(id: $0[0].int ?? 0, name: $0[1].text ?? "") }
        }
    }

    public func tags(of flow: Int64) throws -> [DataflowTag] {
        try withConnection { db in
            try db.query(
                "SELECT t.id, t.name FROM dataflow_tag_links l JOIN dataflow_tags t ON t.id = l.tag_id WHERE l.dataflow_id = ? ORDER BY t.id",
                [.int(flow)]
            ).map { DataflowTag(id: $0[0].int ?? 0, name: $0[1].text ?? "") }
        }
    }

    private static func addTag(_ db: any SQLSession, flow: Int64, tag: Int64) throws {
        guard try db.query("SELECT 1 FROM dataflow_tags WHERE id = ?", [.int(tag)]).first != nil else {
            throw FlowInputError("tag_id: there is no tag \(tag) (create one with POST /api/data-flow/add-tag)")
        }
        try db.run("INSERT INTO dataflow_tag_links (dataflow_id, tag_id) VALUES (?, ?) ON CONFLICT DO NOTHING", [.int(flow), .int(tag)])
    }

    // MARK: runs

    /// Starts a run (pending) unless one is already pending or running: the store's unique
    /// index decides, so two gateways on one store cannot both start one.
    public func insertRun(flow: Int64, trigger: String, params: String, now: Date?, scheduledFor: Date?) throws -> DataflowRun {
        let now = now ?? clock.now
        let tick = scheduledFor.map { SQLValue.int(Int64($0.timeIntervalSince1970)) } ?? .null
        return try withConnection { db in
            try db.transaction {
                if scheduledFor != nil,
                    let taken = try db.query("SELECT execution_id FROM dataflow_runs WHERE dataflow_id = ? AND scheduled_for = ?", [.int(flow), tick])
                        .first?.first?.text
                {
                    throw TickTaken(executionId: taken)
                }
                if let active = try db.query(
                    "SELECT execution_id FROM dataflow_runs WHERE dataflow_id = ? AND status IN ('pending', 'running')",
                    [.int(flow)]
                ).first?.first?.text {
                    throw RunConflict(executionId: active)
                }
                let seconds = Int64(now.timeIntervalSince1970)
                // The runs of this flow started in the same second name the suffix (one indexed
                // count): probing _2, _3, … one by one cost a round trip per earlier run, 75 of
                // them a run for a flow run 75 times a second. The probe below is a safety net.
                var n =
                    try db.query("SELECT count(*) FROM dataflow_runs WHERE dataflow_id = ? AND started_at = ?", [.int(flow), .int(seconds)])
                    .first?.first?.int ?? 0
                var executionId = n == 0 ? "exec_\(flow)_\(seconds)" : "exec_\(flow)_\(seconds)_\(n + 1)"
                n += 1
                while try db.query("SELECT 1 FROM dataflow_runs WHERE execution_id = ?", [.text(executionId)]).first != nil {
                    n += 1
                    executionId = "exec_\(flow)_\(seconds)_\(n)"
                }
                // Another gateway may have started one since the check: the partial unique
                // index refuses it (no row comes back), and the run it started is the conflict.
                let inserted = try db.query(
                    """
                    INSERT INTO dataflow_runs (execution_id, dataflow_id, status, trigger, params, started_at, worker, scheduled_for, lease_until)
                    VALUES (?, ?, 'pending', ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING \(Self.runColumns)
                    """,
                    [.text(executionId), .int(flow), .text(trigger), .text(params), .int(seconds), .text(worker), tick, leaseEnd])
                guard let row = inserted.first else {
                    if scheduledFor != nil,
                        let taken = try db.query("SELECT execution_id FROM dataflow_runs WHERE dataflow_id = ? AND scheduled_for = ?", [.int(flow), tick])
                            .first?.first?.text
                    {
                        throw TickTaken(executionId: taken)
                    }
                    let active =
                        try db.query(
                            "SELECT execution_id FROM dataflow_runs WHERE dataflow_id = ? AND status IN ('pending', 'running')",
                            [.int(flow)]
                        ).first?.first?.text ?? ""
                    throw RunConflict(executionId: active)
                }
                return Self.run(row)
            }
        }
    }

    public func run(executionId: String) throws -> DataflowRun? {
        try withConnection { db in
            try db.query("SELECT \(Self.runColumns) FROM dataflow_runs WHERE execution_id = ?", [.text(executionId)]).first.map(Self.run)
        }
    }

    public func latestRun(flow: Int64) throws -> DataflowRun? {
        try withConnection { db in
            try db.query("SELECT \(Self.runColumns) FROM dataflow_runs WHERE dataflow_id = ? ORDER BY id DESC LIMIT 1", [.int(flow)]).first.map(Self.run)
        }
    }

    public func runs(flow: Int64, page: Int, pageSize: Int) throws -> (list: [DataflowRun], total: Int) {
        try withConnection { db in
            let total = try db.query("SELECT count(*) FROM dataflow_runs WHERE dataflow_id = ?", [.int(flow)]).first?.first?.int ?? 0
            let list = try db.query(
                "SELECT \(Self.runColumns) FROM dataflow_runs WHERE dataflow_id = ? ORDER BY id DESC LIMIT ? OFFSET ?",
                [.int(flow), .int(Int64(pageSize)), .int(Int64((page - 1) * pageSize))]
            ).map(Self.run)
            return (list, Int(total))
        }
    }

    public func ownActiveRuns() throws -> [DataflowRun] {
        try withConnection { db in
            try db.query(
                "SELECT \(Self.runColumns) FROM dataflow_runs WHERE status IN ('pending', 'running') AND worker IN (?, '')", [.text(worker)]
            ).map(Self.run)
        }
    }

    public func markRunning(run: Int64) throws {
        try withConnection { db in
            try db.run("UPDATE dataflow_runs SET status = 'running' WHERE id = ? AND status = 'pending'", [.int(run)])
        }
    }

    public func updateRunProgress(run: Int64, attempt: Int64, progress: Int, rowsRead: Int64, rowsWritten: Int64) throws {
        try withConnection { db in
            try db.run(
                "UPDATE dataflow_runs SET progress = ?, rows_read = ?, rows_written = ? WHERE id = ? AND status IN ('pending', 'running') AND attempt = ?",
                [.int(Int64(progress)), .int(rowsRead), .int(rowsWritten), .int(run), .int(attempt)])
        }
    }

    public func beginCommit(run: Int64, attempt: Int64) throws -> Bool {
        try withConnection { db in
            try !db.query(
                "UPDATE dataflow_runs SET commit_started = 1 WHERE id = ? AND attempt = ? AND status = 'running' AND worker IN (?, '') RETURNING id",
                [.int(run), .int(attempt), .text(worker)]
            ).isEmpty
        }
    }

    public func setRunCounts(run: Int64, attempt: Int64, rowsRead: Int64, rowsWritten: Int64, rowsRejected: Int64) throws {
        try withConnection { db in
            try db.run(
                "UPDATE dataflow_runs SET rows_read = ?, rows_written = ?, rows_rejected = ? WHERE id = ? AND attempt = ?",
                [.int(rowsRead), .int(rowsWritten), .int(rowsRejected), .int(run), .int(attempt)])
        }
    }

    /// Ends a run that is still pending or running; false when it had already ended.
    public func finishRun(
        run: Int64, status: DataflowRun.Status, error: String?, progress: Int?,
        rowsRead: Int64?, rowsWritten: Int64?, rowsRejected: Int64?, exportKey: String?,
        at time: Date?, attempt: Int64?
    ) throws -> Bool {
        let now = Int64((time ?? clock.now).timeIntervalSince1970)
        let ended = try withConnection { db in
            try db.query(
                """
                UPDATE dataflow_runs SET status = ?, error_message = ?, completed_at = ?, progress = COALESCE(?, progress),
                  rows_read = COALESCE(?, rows_read), rows_written = COALESCE(?, rows_written), export_key = COALESCE(?, export_key),
                  rows_rejected = COALESCE(?, rows_rejected)
                WHERE id = ? AND status IN ('pending', 'running') AND attempt = COALESCE(?, attempt) RETURNING started_at
                """,
                [
                    .text(status.rawValue), error.map(SQLValue.text) ?? .null, .int(now),
                    progress.map { .int(Int64($0)) } ?? .null, rowsRead.map(SQLValue.int) ?? .null, rowsWritten.map(SQLValue.int) ?? .null,
                    exportKey.map(SQLValue.text) ?? .null, rowsRejected.map(SQLValue.int) ?? .null, .int(run), attempt.map(SQLValue.int) ?? .null,
                ])
        }
        guard let startedAt = ended.first?.first?.int else { return false }
        GatewayMetrics.runEnded(kind: "dataflow", outcome: status.rawValue, seconds: Double(now) - Double(startedAt))
        return true
    }

    public func setRunExport(run: Int64, key: String) throws {
        try withConnection { db in
            try db.run("UPDATE dataflow_runs SET export_key = ? WHERE id = ?", [.text(key), .int(run)])
        }
    }

    /// Deletes runs (with their logs) and flow logs older than `cutoff`; returns how many runs.
    public func deleteRuns(before cutoff: Date) throws -> Int {
        try withConnection { db in
            try db.transaction {
                let seconds = Int64(cutoff.timeIntervalSince1970)
                let runs = try db.run("DELETE FROM dataflow_runs WHERE started_at < ? AND status NOT IN ('pending', 'running')", [.int(seconds)])
                try db.run("DELETE FROM dataflow_logs WHERE at < ?", [.int(seconds * 1_000)])
                return runs
            }
        }
    }

    // MARK: logs

    /// Appends a line to a flow's log (the service writes a line the store refuses to the
    /// server log instead).
    public func logFlow(_ flow: Int64, run: Int64?, _ level: DataflowLog.Level, component: String, _ message: String) throws {
        try withConnection { db in
            try db.run(
                "INSERT INTO dataflow_logs (dataflow_id, run_id, at, level, component, message) VALUES (?, ?, ?, ?, ?, ?)",
                [
                    .int(flow), run.map(SQLValue.int) ?? .null, .int(Int64(clock.now.timeIntervalSince1970 * 1_000)),
                    .text(level.rawValue), .text(component), .text(message),
                ])
        }
    }

    /// A page of a flow's log, oldest first (as seed 004 shows it) or newest first, of one
    /// level and one run if asked.
    public func flowLogs(
        _ flow: Int64, page: Int, pageSize: Int, level: DataflowLog.Level?, runId: Int64?, newestFirst: Bool
    ) throws -> (list: [DataflowLog], total: Int) {
        try withConnection { db in
            var filter = "dataflow_id = ?", args: [SQLValue] = [.int(flow)]
            if let level { filter += " AND level = ?"; args.append(.text(level.rawValue)) }
            if let runId { filter += " AND run_id = ?"; args.append(.int(runId)) }
            let total = try db.query("SELECT count(*) FROM dataflow_logs WHERE \(filter)", args).first?.first?.int ?? 0
            let rows = try db.query(
                "SELECT id, run_id, at, level, component, message FROM dataflow_logs WHERE \(filter) ORDER BY id \(newestFirst ? "DESC" : "ASC") LIMIT ? OFFSET ?",
                args + [.int(Int64(pageSize)), .int(Int64((page - 1) * pageSize))])
            let list = rows.map { r in
                DataflowLog(
                    id: r[0].int ?? 0, runId: r[1].int, at: Date(timeIntervalSince1970: Double(r[2].int ?? 0) / 1_000),
                    level: DataflowLog.Level(rawValue: r[3].text ?? "") ?? .info, component: r[4].text ?? "", message: r[5].text ?? "")
            }
            return (list, Int(total))
        }
    }

    // MARK: rows

    private static func flow(_ db: any SQLSession, _ id: Int64) throws -> Dataflow? {
        try db.query("SELECT \(flowColumns) FROM dataflows WHERE id = ?", [.int(id)]).first.map(flow)
    }

    private static func flow(_ r: [SQLValue]) -> Dataflow {
        Dataflow(
            id: r[0].int ?? 0, name: r[1].text ?? "", enName: r[2].text ?? "", description: r[3].text ?? "", status: r[4].text ?? "",
            createdBy: r[5].text ?? "", config: r[6].text ?? "{}", createdAt: Date(timeIntervalSince1970: Double(r[7].int ?? 0)),
            updatedAt: Date(timeIntervalSince1970: Double(r[8].int ?? 0)),
            runAs: (r[9].text).flatMap { try? JSONDecoder().decode(Identity.self, from: Data($0.utf8)) })
    }

    /// A flow's identity as kept: JSON, or '' for none.
    private static func identityText(_ identity: Identity?) throws -> String {
        guard let identity else { return "" }
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return String(decoding: try encoder.encode(identity), as: UTF8.self)
    }

    private static func ref(_ r: [SQLValue]) -> DataflowRef { DataflowRef(id: r[0].int ?? 0, name: r[1].text ?? "") }

    static func run(_ r: [SQLValue]) -> DataflowRun {
        DataflowRun(
            id: r[0].int ?? 0, executionId: r[1].text ?? "", dataflowId: r[2].int ?? 0,
            status: DataflowRun.Status(rawValue: r[3].text ?? "") ?? .failed, trigger: r[4].text ?? "", params: r[5].text ?? "{}",
            progress: Int(r[6].int ?? 0), rowsRead: r[7].int ?? 0, rowsWritten: r[8].int ?? 0, errorMessage: r[9].text,
            exportKey: r[10].text ?? "", startedAt: Date(timeIntervalSince1970: Double(r[11].int ?? 0)),
            completedAt: r[12].int.map { Date(timeIntervalSince1970: Double($0)) }, rowsRejected: r[13].int ?? 0,
            gateway: r[14].text ?? "", attempt: r[15].int ?? 1)
    }
}
