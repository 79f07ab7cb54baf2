import Foundation

/// The claims gateways hold on their unfinished tasks and runs (see `LeaseRepository`).
/// Fenced by status: an expiry ends only work still unfinished, and every later write of the
/// gateway that lost it (progress, its own end) changes rows only while they are unfinished.
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

    public func expireTasks() throws -> [ExportTask] {
        let now = Int64(clock.now.timeIntervalSince1970)
        let ended = try withConnection { db in
            try db.query(
                """
                UPDATE export_tasks SET status = 3, fail_reason = 'interrupted: gateway ' || worker || ' stopped', finished_at = ?
                WHERE status = 1 AND worker NOT IN (?, '') AND lease_until < ? RETURNING \(Self.taskColumns)
                """, [.int(now), .text(worker), .int(now)])
        }.map(Self.task)
        for task in ended { GatewayMetrics.runEnded(kind: "export", outcome: "failed", seconds: Double(now) - task.createdAt.timeIntervalSince1970) }
        GatewayMetrics.claimsExpired(kind: "export", count: ended.count)
        return ended
    }

    public func expireRuns() throws -> [DataflowRun] {
        let now = Int64(clock.now.timeIntervalSince1970)
        let ended = try withConnection { db in
            try db.query(
                """
                UPDATE dataflow_runs SET status = 'failed', error_message = 'interrupted: gateway ' || worker || ' stopped', completed_at = ?
                WHERE status IN ('pending', 'running') AND worker NOT IN (?, '') AND lease_until < ? RETURNING \(Self.runColumns)
                """, [.int(now), .text(worker), .int(now)])
        }.map(Self.run)
        for run in ended { GatewayMetrics.runEnded(kind: "dataflow", outcome: "failed", seconds: Double(now) - run.startedAt.timeIntervalSince1970) }
        GatewayMetrics.claimsExpired(kind: "dataflow", count: ended.count)
        return ended
    }
}
