import Foundation
import Hummingbird
import HummingbirdTesting
import MetricsTestKit
import Testing
@testable import Host

/// What operators see: Prometheus metrics at /metrics, and one access-log line per request
/// carrying the request id the client saw, without the query string's secrets.
@Suite struct MetricsTests {
    @Test func metricsCountRequestsPluginCallsRowsAndRuns() async throws {
        let dir = TestSupport.temporaryDirectory("metrics")
        try TestSupport.compilePlugin(source: "\(TestSupport.fixtures)/fixture_plugin.c", output: "\(dir)/good.so")
        let gateway = try TestSupport.gateway(pluginDirs: [dir]) {
            $0.datasources = ["ten": DatasourceDefinition(plugin: "fixture.good", config: .object(["rows": .number(10)]))]
        }
        let (_, reader) = try gateway.tokens.create(name: "q", scopes: ["query", "export"])
        let (_, scraper) = try gateway.tokens.create(name: "prometheus", scopes: ["metrics"])
        try await TestServer.with(gateway) { server in
            #expect(try await server.request(.GET, "/api/v1/datasource/ten/query?token=\(reader)").status == 200)
            let created = try await ExportTests.post(
                server, "/v1/export/raw",
                [
                    "ext_type": "csv", "user_id": "u",
                    "source_raw": #"[{"a":"A"},{"a":1}]"#,
                ], token: reader)
            let key = try #require((created.json["data"] as? [String: Any])?["hash_key"] as? String)
            _ = try await ExportTests.waitForEnd(server, key: key, token: reader)

            #expect(try await server.request(.GET, "/metrics").status == 401)
            #expect(try await server.request(.GET, "/metrics", headers: [("Authorization", "Bearer \(reader)")]).status == 403)
            let scraped = try await server.request(.GET, "/metrics", headers: [("Authorization", "Bearer \(scraper)")])
            #expect(scraped.status == 200 && scraped.headers.first(name: "content-type")?.hasPrefix("text/plain; version=0.0.4") == true)
            let text = scraped.text
            for line in [
                #"hb_requests{http_route="/api/v1/datasource/{id}/query",http_request_method="GET",http_response_status_code="200"}"#,
                #"gateway_plugin_call_duration_seconds_count{plugin="fixture.good",kind="source",call="open"}"#,
                #"gateway_plugin_call_duration_seconds_count{plugin="fixture.good",kind="source",call="read"}"#,
                #"gateway_pipeline_rows_total{end="source",type="PluginSource"}"#,
                #"gateway_pipeline_rows_total{end="sink",type="ResponseBodySink"}"#,
                #"gateway_runs_total{kind="export",outcome="success"}"#,
                #"gateway_response_body_bytes_total{format="json"}"#,
            ] {
                #expect(text.contains(line), "\(line) missing")
            }
            // Counts are numbers Prometheus reads: every sample line is `name{labels} value`.
            let samples = text.split(separator: "\n").filter { !$0.hasPrefix("#") }
            #expect(samples.allSatisfy { $0.split(separator: " ").last.flatMap { Double($0) } != nil })
        }
    }

    /// A small whole response is recorded when its handler returns (its body then goes out
    /// with its head in one write), a streamed one once it is written: each counted once, with
    /// its duration, and none left active. (A metrics factory of its own: the process's
    /// counts are shared by every test running at once.)
    @Test func requestsAreCountedWhetherTheirBodyIsWholeOrStreamed() async throws {
        let metrics = TestMetrics()
        let router = Router()
        router.middlewares.add(RequestMetricsMiddleware<BasicRequestContext>(factory: metrics))
        router.get("/whole") { _, _ in Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: "whole"))) }
        router.get("/streamed") { _, _ in
            Response(
                status: .ok,
                body: .init { writer in
                    try await writer.write(ByteBuffer(string: "a"))
                    try await writer.write(ByteBuffer(string: "b"))
                    try await writer.finish(nil)
                })
        }
        router.get("/fails") { _, _ -> Response in throw HTTPError(.badRequest) }
        try await Application(router: router).test(.live) { client in
            for _ in 0..<2 { try await client.execute(uri: "/whole", method: .get) { #expect(String(buffer: $0.body) == "whole") } }
            try await client.execute(uri: "/streamed", method: .get) { #expect(String(buffer: $0.body) == "ab") }
            try await client.execute(uri: "/fails", method: .get) { #expect($0.status == .badRequest) }
        }
        func dimensions(_ route: String, _ status: String = "200") -> [(String, String)] {
            [("http.route", route), ("http.request.method", "GET"), ("http.response.status_code", status)]
        }
        #expect(metrics.counterTotal(label: "hb.requests", dimensions: dimensions("/whole")) == 2)
        #expect(try metrics.expectTimer("http.server.request.duration", dimensions("/whole")).values.count == 2)
        #expect(metrics.counterTotal(label: "hb.requests", dimensions: dimensions("/streamed")) == 1)
        #expect(try metrics.expectTimer("http.server.request.duration", dimensions("/streamed")).values.count == 1)
        #expect(metrics.counterTotal(label: "hb.requests", dimensions: dimensions("/fails", "400")) == 1)
        let errors = [("http.route", "/fails"), ("http.request.method", "GET"), ("error.type", "400")]
        #expect(metrics.counterTotal(label: "hb.request.errors", dimensions: errors) == 1)
        #expect(try metrics.expectMeter("http.server.active_requests", [("http.request.method", "GET")]).lastValue == 0)
    }

    @Test func everyRequestIsLoggedOnceWithItsIdAndNoToken() async throws {
        let work = TestSupport.temporaryDirectory("access-log")
        let log = "\(work)/gateway.log"
        let process = try GatewayProcess(logFile: log)
        let token = process.adminToken
        // A real client (curl), with the token in the query string as seed clients send it.
        let reply = try TestSupport.run(
            "/usr/bin/env",
            [
                "curl", "-s", "-D", "-", "-o", "/dev/null",
                "\(process.base)/api/v1/datasource/store/query?token=\(token)&query=select%201",
            ])
        process.stop()
        let id =
            reply.output.split(separator: "\r\n").first { $0.lowercased().hasPrefix("x-request-id:") }
            .map { $0.dropFirst("x-request-id:".count).trimmingCharacters(in: .whitespaces) } ?? ""
        #expect(reply.output.hasPrefix("HTTP/1.1 200") && !id.isEmpty, "\(reply.output)")
        let lines = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n")
        let access = lines.filter { $0.contains("request_id=\(id)") && $0.hasSuffix("GET /api/v1/datasource/store/query 200") }
        #expect(access.count == 1, "\(lines)")
        #expect(access.first?.contains("duration_ms=") == true && access.first?.contains("bytes=") == true)
        #expect(!lines.contains { $0.contains(token) }, "the token reached the log")
    }
}
