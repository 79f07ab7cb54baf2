import Foundation
import ServiceLifecycle
import Testing
@testable import Host

/// Time comes from the gateway's clock: schedules, retries with backoff and callback retries
/// are tested by moving a clock, not by waiting.
@Suite struct ClockTests {
    static let midnight = Date(timeIntervalSince1970: 1_763_683_200)  // 2025-11-21 00:00 UTC

    /// The maintenance service (as `gateway serve` runs it) starts a flow at its cron time
    /// of the gateway's clock: nothing before 00:05, a run with trigger "schedule" after it.
    @Test func theMaintenanceServiceFiresSchedulesByTheGatewaysClock() async throws {
        let clock = ManualClock(Self.midnight.addingTimeInterval(60))
        let gateway = try TestSupport.gateway(clock: clock)
        let config =
            #"{"schedule":"*/5 * * * *","timezone":"UTC","source":{"type":"sql","query":"SELECT 1 AS o_id"},"target":{"type":"dataset","id":"orders_copy"}}"#
        let flow = try gateway.store.insertDataflow(
            .init(name: "s", description: "d", status: "active", createdBy: "t", config: config, childrenIds: [], tagId: nil), enNameBase: "s")
        let maintenance = Maintenance(gateway, tickSeconds: 5)
        let group = ServiceGroup(configuration: .init(services: [maintenance], logger: gateway.logger))
        let running = Task { try await group.run() }
        defer { running.cancel() }
        #expect(gateway.dataflows.nextRun(of: flow) == Self.midnight.addingTimeInterval(300))
        // 00:01 → 00:04:55 in ticks: not yet.
        for _ in 0..<47 {
            clock.advance(by: 5)
            try await Task.sleep(for: .milliseconds(5))
        }
        #expect(try gateway.store.latestRun(flow: flow.id) == nil)
        // Past 00:05: the next tick starts it.
        var run: DataflowRun?
        for _ in 0..<400 where run == nil {
            clock.advance(by: 5)
            try await Task.sleep(for: .milliseconds(10))
            run = try gateway.store.latestRun(flow: flow.id)
        }
        let fired = try #require(run)
        #expect(fired.trigger == "schedule")
        // Stamped by the gateway's clock, not the machine's.
        #expect(abs(fired.startedAt.timeIntervalSince(Self.midnight)) < 3_600)
        await group.triggerGracefulShutdown()
        try await running.value
    }

    /// A step that fails with a retryable status (the sink's commit: GW_UNAVAILABLE) is
    /// retried `retry_count` times after 1, 2, 4 s of the gateway's clock, then the run fails
    /// with the step's message.
    @Test func dataflowRetriesBackOffOnTheGatewaysClock() async throws {
        let dir = TestSupport.temporaryDirectory("retry-clock")
        try SinkPluginTests.fixtureSink(dir, defines: ["FIXTURE_FAIL_COMMIT"])
        let clock = ManualClock(Self.midnight, advancesOnWait: true)
        let gateway = try TestSupport.gateway(pluginDirs: [dir], clock: clock) { $0.dataflows.requireToken = false }
        try await TestServer.with(gateway) { server in
            let config: [String: Any] = [
                "source": ["type": "sql", "query": "SELECT 1 AS id"],
                "target": ["type": "plugin", "plugin": "fixture.sink", "config": ["path": "\(dir)/out.tsv"]],
                "retry_count": 3,
            ]
            let (_, ended) = try await DataflowTests.runToEnd(server, name: "retries", config: config)
            #expect(ended["status"] as? String == "failed" && ended["error_message"] as? String == "the destination went away", "\(ended)")
        }
        // Seven seconds of backoff, all of them the gateway clock's (a real wait would not
        // move it, and would leave `waits` empty).
        #expect(clock.waits == [1, 2, 4])
    }

    /// An export's callback that fails is retried with its backoff doubling from
    /// `callbackBackoffMs`, on the gateway's clock: the page server's callback answers 500
    /// twice, then 200, after 30 + 60 s of the gateway's clock and none of the machine's.
    @Test func callbackRetriesBackOffOnTheGatewaysClock() async throws {
        let clock = ManualClock(Self.midnight, advancesOnWait: true)
        let gateway = try TestSupport.gateway(clock: clock) {
            $0.exports.callbackRetries = 3
            $0.exports.callbackBackoffMs = 30_000
        }
        try await HttpExportTests.withPageServer { pages in
            let task = try gateway.store.insertTask(
                hashKey: String(repeating: "a", count: 32), requestHash: "h", owner: "", userId: "u", title: "t",
                extType: "xlsx", sourceType: "raw", request: "{}", callback: "\(pages)/callback")
            gateway.exports.callBack(task)
            var logs: [String] = []
            for _ in 0..<1_000 where !logs.contains(where: { $0.hasPrefix("callback attempt 3") }) {
                try await Task.sleep(for: .milliseconds(10))
                logs = try gateway.store.taskLogs(id: task.id)
            }
            #expect(logs == ["callback attempt 1: HTTP 500", "callback attempt 2: HTTP 500", "callback attempt 3: HTTP 200"])
            #expect(clock.waits == [30, 60])
        }
    }
}
