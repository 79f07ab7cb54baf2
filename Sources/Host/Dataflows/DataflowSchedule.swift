import Foundation

/// Scheduled runs: an active flow with a `schedule` runs at each time its cron expression
/// names. Times missed while the gateway was down are not caught up; a time that finds the
/// flow still running is skipped with a WARNING line in its log.
extension DataflowService {
    /// Fires the flows due at `now`; the gateway calls it every few seconds. The first call
    /// that sees a flow (or a changed schedule) only computes its next time.
    func runSchedules(now: Date = Date()) {
        guard let flows = try? store.activeDataflows() else { return }
        var due: [Dataflow] = []
        var seen = Set<Int64>()
        for flow in flows {
            guard let plan = try? FlowPlan.parse(flow.config), let schedule = plan.schedule else { continue }
            seen.insert(flow.id)
            let fire: Bool = nextFires.withLock { fires in
                guard let known = fires[flow.id], known.schedule == schedule else {
                    fires[flow.id] = schedule.next(after: now).map { (schedule, $0) }
                    return false
                }
                guard known.at <= now else { return false }
                fires[flow.id] = schedule.next(after: now).map { (schedule, $0) }
                return true
            }
            if fire { due.append(flow) }
        }
        nextFires.withLock { fires in fires = fires.filter { seen.contains($0.key) } }
        for flow in due {
            do {
                _ = try execute(flow, paramsJSON: "{}", trigger: "schedule")
            } catch let conflict as Store.RunConflict {
                store.logFlow(flow.id, run: nil, .warning, component: "scheduler",
                              "scheduled run skipped: \(conflict.executionId) is still running")
            } catch {
                store.logFlow(flow.id, run: nil, .error, component: "scheduler", "scheduled run could not start: \(error)")
            }
        }
    }

    /// When an active flow's schedule fires next (nil for a flow without one, or inactive).
    func nextRun(of flow: Dataflow, now: Date = Date()) -> Date? {
        guard flow.status == "active", let plan = try? FlowPlan.parse(flow.config), let schedule = plan.schedule else { return nil }
        if let known = nextFires.withLock({ $0[flow.id] }), known.schedule == schedule, known.at > now { return known.at }
        return schedule.next(after: now)
    }
}
