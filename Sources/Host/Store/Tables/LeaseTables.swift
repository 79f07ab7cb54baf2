import Foundation

/// The claims gateways hold on their unfinished tasks and runs (see `LeaseRepository`).
/// Fenced by attempt: a take-over starts a new attempt, and every later write of the gateway
/// that lost the work (progress, its commit, its own end) names its attempt and changes
/// nothing.
extension SQLStore: LeaseRepository {
    /// When a claim taken or renewed now runs out.
    var leaseEnd: SQLValue { .int(Int64(clock.now.timeIntervalSince1970) + Int64(leaseSeconds)) }

    public func renewLeases() throws {
        try withConnection { db in
            try db.transaction {
                try db.run("UPDATE export_tasks SET lease_until = ? WHERE status = 1 AND worker = ?", [leaseEnd, .text(worker)])
                try db.run(
                    "UPDATE dataflow_runs SET lease_until = ? WHERE status IN ('pending', 'running') AND worker = ?", [leaseEnd, .text(worker)])
            }
        }
    }

    public func takeOverTasks(maxAttempts: Int64) throws -> (failed: [ExportTask], restarted: [TakenOver<ExportTask>]) {
        let now = Int64(clock.now.timeIntervalSince1970)
        var failed: [ExportTask] = []
        var restarted: [TakenOver<ExportTask>] = []
        for (id, stopped, attempt, sealed) in try expiredClaims(table: "export_tasks", active: "status = 1", extra: "sealed_request", now: now) {
            // Each row on its own, fenced by the gateway and attempt read: of two gateways
            // taking over at once, the second changes nothing.
            let fence: [SQLValue] = [.int(id), .text(stopped), .int(attempt), .int(now)]
            let fenced = "WHERE id = ? AND worker = ? AND attempt = ? AND status = 1 AND lease_until < ? RETURNING \(Self.taskColumns)"
            if !sealed.isEmpty && attempt < maxAttempts {
                let taken = try withConnection { db in
                    try db.query(
                        "UPDATE export_tasks SET worker = ?, attempt = attempt + 1, lease_until = ?, progress_done = 0, progress_total = -1 \(fenced)",
                        [.text(worker), leaseEnd] + fence)
                }
                if let row = taken.first { restarted.append(TakenOver(work: Self.task(row), stopped: stopped, sealedRequest: sealed)) }
                continue
            }
            let why = sealed.isEmpty ? "" : " (its attempt \(attempt) of \(maxAttempts): not restarted again)"
            let ended = try withConnection { db in
                try db.query(
                    "UPDATE export_tasks SET status = 3, fail_reason = ?, finished_at = ?, sealed_request = '' \(fenced)",
                    [.text("interrupted: gateway \(stopped) stopped\(why)"), .int(now)] + fence)
            }
            failed += ended.map(Self.task)
        }
        for task in failed { GatewayMetrics.runEnded(kind: "export", outcome: "failed", seconds: Double(now) - task.createdAt.timeIntervalSince1970) }
        GatewayMetrics.claimsExpired(kind: "export", count: failed.count + restarted.count)
        return (failed, restarted)
    }

    public func takeOverRuns(maxAttempts: Int64) throws -> (failed: [DataflowRun], requeued: [TakenOver<DataflowRun>]) {
        let now = Int64(clock.now.timeIntervalSince1970)
        var failed: [DataflowRun] = []
        var requeued: [TakenOver<DataflowRun>] = []
        let expired = try expiredClaims(
            table: "dataflow_runs", active: "status IN ('pending', 'running')",
            extra: "CASE WHEN commit_started = 1 THEN 'commit' WHEN trigger LIKE 'parent:%' THEN 'step' ELSE '' END", now: now)
        // Children's step runs first: they end with their parent's attempt, and a parent run
        // again runs them again (its flow's run must not be active by then).
        for (id, stopped, attempt, kind) in expired.sorted(by: { ($0.extra == "step" ? 0 : 1) < ($1.extra == "step" ? 0 : 1) }) {
            let fence: [SQLValue] = [.int(id), .text(stopped), .int(attempt), .int(now)]
            let fenced = "WHERE id = ? AND worker = ? AND attempt = ? AND status IN ('pending', 'running') AND lease_until < ? RETURNING \(Self.runColumns)"
            if kind.isEmpty && attempt < maxAttempts {
                let taken = try withConnection { db in
                    try db.query(
                        """
                        UPDATE dataflow_runs SET worker = ?, attempt = attempt + 1, lease_until = ?, status = 'pending', progress = 0,
                          rows_read = 0, rows_written = 0, rows_rejected = 0 \(fenced)
                        """, [.text(worker), leaseEnd] + fence)
                }
                if let row = taken.first { requeued.append(TakenOver(work: Self.run(row), stopped: stopped)) }
                continue
            }
            let why =
                switch kind {
                case "commit": " while its target committed (not run again: the target may hold its rows)"
                case "step": ""
                default: " (its attempt \(attempt) of \(maxAttempts): not run again)"
                }
            let ended = try withConnection { db in
                try db.query(
                    "UPDATE dataflow_runs SET status = 'failed', error_message = ?, completed_at = ? \(fenced)",
                    [.text("interrupted: gateway \(stopped) stopped\(why)"), .int(now)] + fence)
            }
            failed += ended.map(Self.run)
        }
        for run in failed { GatewayMetrics.runEnded(kind: "dataflow", outcome: "failed", seconds: Double(now) - run.startedAt.timeIntervalSince1970) }
        GatewayMetrics.claimsExpired(kind: "dataflow", count: failed.count + requeued.count)
        return (failed, requeued)
    }

    /// The unfinished rows of other gateways whose claims passed: id, the gateway, the
    /// attempt, and one more value (`extra`, as text).
    private func expiredClaims(
        table: String, active: String, extra: String, now: Int64
    ) throws -> [(
        id: Int64, worker: String, attempt: Int64, extra: String
    )] {
        try withConnection { db in
            try db.query(
                "SELECT id, worker, attempt, \(extra) FROM \(table) WHERE \(active) AND worker NOT IN (?, '') AND lease_until < ? ORDER BY id",
                [.text(worker), .int(now)])
        }.map { ($0[0].int ?? 0, $0[1].text ?? "", $0[2].int ?? 1, $0[3].text ?? "") }
    }
}
