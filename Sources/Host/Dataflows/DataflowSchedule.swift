import Foundation

/// Scheduled runs: an active flow with a `schedule` runs at each time its cron expression
/// names. Times missed while the gateway was down are not caught up; a time that finds the
/// flow still running is skipped with a WARNING line in its log.
extension DataflowService {
    /// Fires the flows due at `now`; the gateway calls it every few seconds. Each tick reads
    /// only the active flows' ids and config revisions: a config is read and parsed again
    /// only when its revision changed (400 flows with 1 MB configs, parsed every tick, kept
    /// an idle gateway busy). The first tick that sees a flow (or a changed schedule) only
    /// computes its next time.
    func runSchedules(now: Date? = nil) {
        let now = now ?? clock.now
        let active: [(id: Int64, revision: Int64)]
        do {
            active = try store.activeRevisions()
        } catch {
            return logScheduler("cannot read the active dataflows: \(error)")
        }
        let known = schedules.withLock { $0 }
        var next: [Int64: ScheduleEntry] = [:]
        var due: [(id: Int64, at: Date)] = []
        for flow in active {
            guard var entry = known[flow.id], entry.revision == flow.revision else {
                if let entry = readSchedule(flow.id, now: now, previous: known[flow.id]) { next[flow.id] = entry }
                continue
            }
            if let schedule = entry.schedule, let at = entry.next, at <= now {
                due.append((flow.id, at))
                entry.next = schedule.next(after: now)
            }
            next[flow.id] = entry
        }
        schedules.withLock { $0 = next }
        for (id, at) in due {
            do {
                guard let flow = try store.dataflow(id: id) else { continue }
                _ = try execute(flow, paramsJSON: "{}", trigger: "schedule", scheduledFor: at)
            } catch is TickTaken {
                // Another gateway sharing the store started this time's run: it runs once.
                continue
            } catch let conflict as RunConflict {
                log(id, run: nil, .warning, "scheduler", "scheduled run skipped: \(conflict.executionId) is still running")
            } catch {
                log(id, run: nil, .error, "scheduler", "scheduled run could not start: \(error)")
            }
        }
    }

    /// A flow's schedule read from its config now. An unchanged schedule keeps the time it
    /// fires next; a new or changed one fires first at its next time after `now`.
    private func readSchedule(_ id: Int64, now: Date, previous: ScheduleEntry?) -> ScheduleEntry? {
        guard let (config, revision) = try? store.activeConfig(id: id) else { return nil }
        let schedule = (try? FlowPlan.parse(config))?.schedule
        if let previous, previous.schedule == schedule, schedule != nil {
            return ScheduleEntry(revision: revision, schedule: schedule, next: previous.next)
        }
        return ScheduleEntry(revision: revision, schedule: schedule, next: schedule?.next(after: now))
    }

    /// When an active flow's schedule fires next (nil for a flow without one, or inactive).
    func nextRun(of flow: Dataflow, now: Date? = nil) -> Date? {
        let now = now ?? clock.now
        guard flow.status == "active", let plan = try? FlowPlan.parse(flow.config), let schedule = plan.schedule else { return nil }
        if let known = schedules.withLock({ $0[flow.id] }), known.schedule == schedule, let at = known.next, at > now { return at }
        return schedule.next(after: now)
    }
}
