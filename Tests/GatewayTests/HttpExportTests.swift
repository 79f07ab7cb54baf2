import Foundation
import Testing
@testable import Host

/// HTTP exports through the HttpPager plugin: the seed's flow, and every fault the issue names.
@Suite(.serialized) struct HttpExportTests {
    /// A page server (Fixtures/page_server.py) on a free port, stopped when the body ends.
    static func withPageServer<T>(latencyMs: Int = 0, _ body: (String) async throws -> T) async throws -> T {
        try await TestSupport.withHelperServer("page_server.py", [String(latencyMs)]) { try await body("http://127.0.0.1:\($0)") }
    }

    static func start(
        _ server: TestServer, token: String, url: String, title: String = "t", callback: String = "",
        limit: Int = 20, method: String = "GET"
    ) async throws -> String {
        let reply = try await ExportTests.post(
            server, "/v1/export/http",
            [
                "timestamp": Int(Date().timeIntervalSince1970 * 1000), "ext_type": "XLSX", "title": title, "user_id": "u1",
                "callback": callback, "source_http": ["url": url, "method": method, "header": ["X-Trace": "1"], "param": ["limit": limit]],
            ], token: token)
        return try #require((reply.json["data"] as? [String: Any])?["hash_key"] as? String, "\(reply.text)")
    }

    @Test func theSeedsFlowWithAPythonClient() async throws {
        let (gateway, token) = try ExportTests.gateway()
        try await TestServer.with(gateway) { server in
            let base = server.base
            let result = try await TestSupport.onThread {
                try TestSupport.run("/usr/bin/env", ["python3", "\(TestSupport.fixtures)/export_flow.py", base, token])
            }
            #expect(result.status == 0, "\(result.output)")
            #expect(result.output.contains("ok: 500 rows in order from ['http接口数据源导出.xlsx'], progress {'done': 25, 'total': 25}"))
        }
    }

    @Test func retriesFlakyPagesAndHonoursRetryAfterThenCallsBack() async throws {
        try await Self.withPageServer { pages in
            let (gateway, token) = try ExportTests.gateway()
            try await TestServer.with(gateway) { server in
                let key = try await Self.start(server, token: token, url: "\(pages)/flaky", callback: "\(pages)/callback", method: "POST")
                let detail = try await ExportTests.waitForEnd(server, key: key, token: token)
                #expect(detail["status"] as? Int == 2, "\(detail)")
                let task = try #require(try gateway.store.task(hashKey: key))
                // The callback failed twice and then succeeded; every attempt is in the log.
                var logs: [String] = []
                for _ in 0..<100 {
                    logs = try gateway.store.taskLogs(id: task.id)
                    if logs.contains(where: { $0.hasPrefix("callback attempt 3") }) { break }
                    try await Task.sleep(for: .milliseconds(50))
                }
                #expect(
                    logs.filter { $0.hasPrefix("callback attempt") } == [
                        "callback attempt 1: HTTP 500", "callback attempt 2: HTTP 500", "callback attempt 3: HTTP 200",
                    ])
                let received = try await TestSupport.onThread {
                    try TestSupport.run(
                        "/usr/bin/env",
                        ["python3", "-c", "import urllib.request,sys; print(urllib.request.urlopen(sys.argv[1]).read().decode())", "\(pages)/callback/log"])
                }
                #expect(received.output.contains(#""hash_key": "\#(key)""#) && received.output.contains(#""status": 2"#), "\(received.output)")
            }
        }
    }

    @Test func aSlowPageDelaysButDoesNotReorderOrDrop() async throws {
        try await Self.withPageServer { pages in
            let (gateway, token) = try ExportTests.gateway()
            try await TestServer.with(gateway) { server in
                let key = try await Self.start(server, token: token, url: "\(pages)/slowone", limit: 7)  // 72 pages, the last partial
                let detail = try await ExportTests.waitForEnd(server, key: key, token: token)
                #expect(detail["status"] as? Int == 2, "\(detail)")
                let task = try #require(try gateway.store.task(hashKey: key))
                let file = try #require(gateway.exports.downloadPath(task))
                let check = try TestSupport.run(
                    "/usr/bin/env",
                    [
                        "python3", "-c",
                        """
                        import zipfile, io, openpyxl, sys
                        z = zipfile.ZipFile(sys.argv[1])
                        ws = openpyxl.load_workbook(io.BytesIO(z.read(z.namelist()[0])), read_only=True).active
                        ids = [r[0] for r in ws.iter_rows(min_row=2, values_only=True)]
                        print(len(ids), ids == list(range(500)))
                        """, file,
                    ])
                #expect(check.output.trimmingCharacters(in: .whitespacesAndNewlines) == "500 True", "\(check.output)")
            }
        }
    }

    @Test func aFailingPageFailsTheTaskNamingThePage() async throws {
        try await Self.withPageServer { pages in
            let (gateway, token) = try ExportTests.gateway()
            try await TestServer.with(gateway) { server in
                let broken = try await ExportTests.waitForEnd(server, key: try await Self.start(server, token: token, url: "\(pages)/broken"), token: token)
                #expect(broken["status"] as? Int == 3)
                #expect(broken["fail_reason"] as? String == "page 4: HTTP 404")
                #expect(broken["down_url"] as? String == "")
                let errcode = try await ExportTests.waitForEnd(server, key: try await Self.start(server, token: token, url: "\(pages)/errcode"), token: token)
                #expect(errcode["status"] as? Int == 3)
                #expect(errcode["fail_reason"] as? String == "page 2: errcode 1001: token expired")
            }
        }
    }

    @Test func aSlowCrawlIsCancelledPromptly() async throws {
        try await Self.withPageServer { pages in
            let (gateway, token) = try ExportTests.gateway()
            try await TestServer.with(gateway) { server in
                let key = try await Self.start(server, token: token, url: "\(pages)/slow", limit: 5)  // 100 pages of 300 ms
                try await Task.sleep(for: .milliseconds(400))
                /// The pages the server was asked for so far.
                func requested() async throws -> Int {
                    let stats = try await TestSupport.onThread {
                        try TestSupport.run(
                            "/usr/bin/env",
                            ["python3", "-c", "import urllib.request,sys; print(urllib.request.urlopen(sys.argv[1]).read().decode())", "\(pages)/stats"])
                    }
                    return (try? JSONSerialization.jsonObject(with: Data(stats.output.utf8)) as? [String: Int])?["requests"] ?? 999
                }
                let cancel = try await server.request(.POST, "/v1/export/cancel?key=\(key)", headers: [("Authorization", "Bearer \(token)")])
                #expect(cancel.status == 200, "\(cancel.text)")
                #expect((cancel.json["data"] as? [String: Any])?["status"] as? Int == 4)
                let atCancel = try await requested()
                let detail = try await ExportTests.waitForEnd(server, key: key, token: token)
                #expect(detail["status"] as? Int == 4)
                #expect(detail["fail_reason"] as? String == "cancelled by request")
                // The crawl stopped: after the cancel, the pages in flight at most (the
                // concurrency, 8), not the rest of the hundred. Counted from the cancel, not
                // from the start: how many pages went before it depends on the machine's load.
                try await Task.sleep(for: .milliseconds(700))
                let later = try await requested()
                #expect(atCancel < 100 && later - atCancel <= 8, "\(atCancel) pages asked for by the cancel, \(later) after")
                let again = try await server.request(.POST, "/v1/export/cancel?key=\(key)", headers: [("Authorization", "Bearer \(token)")])
                #expect(again.status == 409)
            }
        }
    }

    @Test func refusedURLsAndRestartRecovery() async throws {
        let (gateway, token) = try ExportTests.gateway()
        try await TestServer.with(gateway) { server in
            let reply = try await ExportTests.post(
                server, "/v1/export/http",
                [
                    "user_id": "u", "source_http": ["url": "http://10.0.0.1/pages"],
                ], token: token)
            #expect(reply.status == 400)
            #expect(reply.json["msg"] as? String == "source_http.url: host '10.0.0.1' is not in the allow-list (http.allowHosts / GATEWAY_HTTP_ALLOW_HOSTS)")
        }
        // A task a crashed process left "processing": the next start ends it with the reason.
        let task = try gateway.store.insertTask(
            hashKey: String(repeating: "a", count: 32), requestHash: "h", owner: "", userId: "u", title: "t",
            extType: "XLSX", sourceType: "http", request: "{}", callback: "")
        var config = gateway.config
        config.plugins.directories = ["/nonexistent"]
        config.plugins.builtin = false
        let restarted = try Gateway(config: config, logger: gateway.logger)
        let ended = try #require(try restarted.store.task(hashKey: task.hashKey))
        #expect(ended.status == .failed)
        #expect(ended.failReason == "interrupted by restart")
        // Retention: an old finished task goes, with its file.
        #expect(try restarted.exports.deleteExpired(now: Date().addingTimeInterval(8 * 86_400)) == 1)
        #expect(try restarted.store.task(hashKey: task.hashKey) == nil)
    }

    /// SIGTERM during an export ended the task "cancelled", without a callback. Now the
    /// export gets server.shutdownGraceSeconds to finish, then ends as a crash would leave
    /// it, "interrupted by restart", and its callback is made before the process exits.
    @Test func sigtermDuringAnExportEndsItInterruptedWithACallback() async throws {
        try await Self.withPageServer { pages in
            let gateway = try GatewayProcess(config: [
                "server": ["shutdownGraceSeconds": 1],
                "http": ["allowHosts": ["127.0.0.1"]],
                "exports": ["callbackBackoffMs": 50],
            ])
            let admin = gateway.adminToken
            let base = gateway.base
            let created = try await TestSupport.onThread {
                try TestSupport.run(
                    "/usr/bin/env",
                    [
                        "curl", "-s", "-H", "Authorization: Bearer \(admin)", "-d",
                        #"{"user_id":"u1","ext_type":"CSV","callback":"\#(pages)/callback","source_http":{"url":"\#(pages)/slow","param":{"limit":10,"total":5000}}}"#,
                        "\(base)/v1/export/http",
                    ])
            }
            let key = try #require(created.output.firstMatch(of: /"hash_key":"([0-9a-f]{32})"/)?.1, "\(created.output)")
            try await Task.sleep(for: .seconds(1))
            #expect(gateway.stop() == .exited(0))
            let rows = try SQLiteConnection(path: "\(gateway.dataDir)/gateway.sqlite")
                .query("SELECT status, fail_reason FROM export_tasks WHERE hash_key = ?", [.text(String(key))])
            #expect(rows == [[.int(3), .text("interrupted by restart")]])
            // The callback failed twice (the page server's script), then got through.
            let log = try TestSupport.run("/usr/bin/env", ["curl", "-s", "\(pages)/callback/log"]).output
            #expect(log.contains(#""fail_reason": "interrupted by restart""#) && log.contains(#""status": 3"#), "\(log)")
        }
    }

    /// The pager's threads went on retrying (and calling the host on a freed instance)
    /// after the export had failed. Now an abandoned crawl stops every thread first.
    @Test func aFailedCrawlLeavesNoThreadBehind() async throws {
        try await Self.withPageServer { pages in
            let (gateway, token) = try ExportTests.gateway()
            try await TestServer.with(gateway) { server in
                let key = try await Self.start(server, token: token, url: "\(pages)/failfast", limit: 10)
                let detail = try await ExportTests.waitForEnd(server, key: key, token: token)
                #expect(detail["status"] as? Int == 3)
                #expect(detail["fail_reason"] as? String == "page 2: HTTP 400")
                func requests() throws -> Int {
                    let stats = try TestSupport.run("/usr/bin/env", ["curl", "-s", "\(pages)/stats"]).output
                    return Int(stats.firstMatch(of: /"requests": (\d+)/)?.1 ?? "") ?? -1
                }
                let atEnd = try requests()
                try await Task.sleep(for: .seconds(3))  // past the pages' Retry-After
                #expect(try requests() == atEnd, "the crawl went on after its task had failed")
            }
        }
    }
}
