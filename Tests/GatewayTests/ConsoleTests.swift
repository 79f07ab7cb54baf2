import Foundation
import Testing
@testable import Host

/// The admin console in a real browser (headless Chromium from Debian, driven through its
/// chromedriver by `Fixtures/console_browser.py`) against a live gateway: every step goes
/// through the public API, and what the page shows is checked against what the gateway holds.
/// Screenshots land in `$CONSOLE_SCREENSHOTS` (or a temporary folder the test prints).
@Suite struct ConsoleTests {
    @Test func anOperatorSignsInRunsAFlowReadsItsLogsAndDownloadsAnExport() async throws {
        let (gateway, _) = try DataflowTests.gateway()
        try DataflowTests.fillOrders(gateway, count: 50)
        let (_, admin) = try gateway.tokens.create(name: "console admin", scopes: ["admin"])
        let (_, narrow) = try gateway.tokens.create(name: "flows only", scopes: ["dataflow"], claims: ["region": ["east"], "org.id": ["acme"]])
        let shots = ProcessInfo.processInfo.environment["CONSOLE_SCREENSHOTS"] ?? TestSupport.temporaryDirectory("console-shots")
        let downloads = TestSupport.temporaryDirectory("console-downloads")
        try FileManager.default.createDirectory(atPath: shots, withIntermediateDirectories: true)

        try await TestServer.with(gateway) { server in
            let (status, created) = try await DataflowTests.call(
                server, .POST, "/add-dataflow", token: admin,
                body: [
                    "name": "orders copy", "description": "orders → orders_same",
                    "config": ["source": ["type": "dataset", "id": "orders"], "target": ["type": "dataset", "id": "orders_same", "mode": "replace"]],
                ])
            let flow = try #require((created["data"] as? [String: Any])?["id"] as? Int, "\(status) \(created)")
            let export = try await ExportTests.post(
                server, "/v1/export/raw",
                [
                    "ext_type": "csv", "user_id": "ops", "title": "orders list",
                    "source_raw": #"[{"id":"编号","name":"名称"},{"id":1,"name":"first"},{"id":2,"name":"second"}]"#,
                ], token: admin)
            let key = try #require((export.json["data"] as? [String: Any])?["hash_key"] as? String)
            #expect(try await ExportTests.waitForEnd(server, key: key, token: admin)["status"] as? Int == 2)

            let script = "\(TestSupport.fixtures)/console_browser.py"
            let result = try await TestSupport.onThread {
                try TestSupport.run(
                    "/usr/bin/env",
                    [
                        "python3", script, server.base, admin, narrow, "example.sequence", "orders",
                        String(flow), key, shots, downloads,
                    ])
            }
            print("console screenshots: \(shots)")
            let last = result.output.split(separator: "\n").last { $0.hasPrefix("{") }.map(String.init) ?? ""
            let printed = try #require(try JSONSerialization.jsonObject(with: Data(last.utf8)) as? [String: Any], "\(result.output)")
            #expect(result.status == 0, "\(result.output)")
            // A failed script prints its error beside what it had seen by then.
            let seen = printed["seen"] as? [String: Any] ?? printed
            let strings = { (key: String) in seen[key] as? [String] ?? [] }

            #expect(strings("plugins").contains { $0.hasPrefix("example.sequence") && $0.contains("active") }, "\(seen)")
            #expect((seen["health"] as? String)?.contains("ok") == true)
            #expect(strings("datasets").contains { $0.hasPrefix("orders ") && $0.contains(" 50 ") }, "\(strings("datasets"))")
            #expect(strings("preview").count == 20)
            #expect((seen["run_state"] as? String)?.contains("completed") == true)
            #expect((seen["run_state"] as? String)?.contains("read 50, written 50") == true, "\(seen["run_state"] ?? "")")
            #expect(strings("runs").count == 1 && strings("runs").first?.contains("manual") == true)
            // Which gateway ran it, and runs the export (several may share a store).
            let worker = try #require((gateway.store as? SQLStore)?.worker)
            #expect(strings("runs").first?.contains(worker) == true, "\(strings("runs"))")
            #expect(strings("exports").contains { $0.contains(worker) }, "\(strings("exports"))")
            #expect(!strings("logs").isEmpty && strings("info_logs").allSatisfy { $0.contains(" INFO ") })
            // What the browser showed is what the gateway did.
            let copied = try SQLiteConnection(path: gateway.datasetsPath).query("SELECT count(*) FROM orders_same").first?.first?.int
            #expect(copied == 50)

            // The downloaded file is the export: a zip holding the CSV with both rows.
            let zip = try #require(strings("downloads").first { $0.hasSuffix(".zip") }, "\(strings("downloads"))")
            let listing = try TestSupport.run(
                "/usr/bin/env",
                [
                    "python3", "-c",
                    """
                    import sys, zipfile
                    z = zipfile.ZipFile(sys.argv[1])
                    print(z.read(z.namelist()[0]).decode("utf-8-sig"))
                    """, "\(downloads)/\(zip)",
                ])
            #expect(listing.status == 0 && listing.output.contains("first") && listing.output.contains("second"), "\(listing.output)")

            // The token made in the page was shown once, works as made, and is revoked now.
            let secret = try #require(seen["secret"] as? String)
            #expect(secret.count == 64)
            #expect(try gateway.tokens.authenticate(secret) == nil)
            let made = try gateway.tokens.list().first { $0.name == "console-made" }
            #expect(made?.scopes == ["query:dataset/orders"] && made?.revokedAt != nil)

            #expect(strings("narrow_tabs") == ["Health & plugins", "Dataflows"], "\(strings("narrow_tabs"))")
            // Who is signed in, with the claims context parameters read.
            #expect(seen["narrow_who"] as? String == "flows only · dataflow · org.id=acme region=east", "\(seen["narrow_who"] ?? "")")
            #expect(strings("console_errors").isEmpty, "\(strings("console_errors"))")
        }
    }

    @Test func thePageIsServedWithAPolicyThatPinsItsOwnScript() async throws {
        let gateway = try TestSupport.gateway()
        try await TestServer.with(gateway) { server in
            let page = try await server.request(.GET, "/console")
            #expect(page.status == 200 && page.headers.first(name: "content-type") == "text/html; charset=utf-8")
            let policy = page.headers.first(name: "content-security-policy") ?? ""
            #expect(policy.contains("script-src 'sha256-") && policy.contains("connect-src 'self'") && policy.contains("frame-ancestors 'none'"))
            // Nothing from outside: no address of another origin anywhere in the page.
            #expect(!page.text.contains("http://") && !page.text.contains("https://"))
        }
    }
}
