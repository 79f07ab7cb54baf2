import AsyncHTTPClient
import Foundation
import Testing
@testable import Host

/// The real server on an ephemeral port, spoken to over HTTP.
@Suite struct ServerTests {
    @Test func healthAndAdminPluginsWithAuth() async throws {
        let dir = TestSupport.temporaryDirectory("fixtures")
        try PluginLoadingTests.buildFixtures(into: dir)
        let gateway = try TestSupport.gateway(pluginDirs: [dir])
        #expect(try gateway.ensureAdminToken())
        #expect(try !gateway.ensureAdminToken())  // kept on the next start
        let admin = try String(contentsOfFile: gateway.adminTokenPath, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let mode = try FileManager.default.attributesOfItem(atPath: gateway.adminTokenPath)[.posixPermissions] as? Int
        #expect(mode == 0o600)

        try await TestServer.with(gateway) { server in
            let health = try await server.request(.GET, "/healthz")
            #expect(health.status == 200)
            #expect((health.json["data"] as? [String: Any])?["status"] as? String == "ok")

            let anonymous = try await server.request(.GET, "/admin/plugins")
            #expect(anonymous.status == 401)
            let error = try #require(anonymous.json["error"] as? [String: Any])
            #expect(error["status"] as? Int == 401)
            #expect((error["message"] as? String)?.hasPrefix("missing token") == true)

            let (_, weak) = try gateway.tokens.create(name: "weak", scopes: ["export"])
            let forbidden = try await server.request(.GET, "/admin/plugins", headers: [("Authorization", "Bearer \(weak)")])
            #expect(forbidden.status == 403)

            let listed = try await server.request(.GET, "/admin/plugins", headers: [("Authorization", "Bearer \(admin)")])
            #expect(listed.status == 200)
            let plugins = try #require(listed.json["data"] as? [[String: Any]])
            #expect(plugins.count == 8)
            #expect(plugins.contains { $0["id"] as? String == "fixture.good" && $0["status"] as? String == "active" })
            #expect(plugins.contains { ($0["reason"] as? String)?.hasPrefix("duplicate id") == true })

            // The token may also come as ?token= (seed 001's form).
            let byQuery = try await server.request(.GET, "/admin/plugins?token=\(admin)")
            #expect(byQuery.status == 200)

            // Rescan picks up a new file without a restart.
            try TestSupport.compilePlugin(
                source: "\(TestSupport.fixtures)/fixture_plugin.c", output: "\(dir)/z_new.so",
                defines: ["FIXTURE_INIT_FAILS"])
            let rescan = try await server.request(.POST, "/admin/plugins/rescan", headers: [("Authorization", "Bearer \(admin)")])
            #expect(rescan.status == 200)
            let changes = try #require((rescan.json["data"] as? [String: Any])?["changes"] as? [String])
            #expect(changes == ["\(dir)/z_new.so: refused: init failed: license file /etc/fixture.lic not found"])
        }
    }

    @Test func requestIdsAndUnknownRoutes() async throws {
        let gateway = try TestSupport.gateway()
        try await TestServer.with(gateway) { server in
            let missing = try await server.request(.GET, "/no/such/route", headers: [("x-request-id", "abc-123")])
            #expect(missing.status == 404)
            #expect(missing.headers.first(name: "x-request-id") == "abc-123")
            #expect(missing.json["request_id"] as? String == "abc-123")
            #expect((missing.json["error"] as? [String: Any])?["status"] as? Int == 404)

            let traced = try await server.request(.GET, "/healthz", headers: [("x-b3-traceid", "80f198ee56343ba864fe8b2a57d3eff7")])
            #expect(traced.headers.first(name: "x-request-id") == "80f198ee56343ba864fe8b2a57d3eff7")

            // A hostile id is replaced, not echoed.
            let hostile = try await server.request(.GET, "/healthz", headers: [("x-request-id", "<script>")])
            let generated = try #require(hostile.headers.first(name: "x-request-id"))
            #expect(generated != "<script>" && generated.count == 32)
        }
    }

    @Test func envelopeStylesRenderErrorsAsTheSeedsDo() throws {
        let failure = GatewayError(.badRequest, "header does not match")
        let statusMsg = Envelope.error(.statusMsg, failure, requestId: "r1")
        #expect(statusMsg.status.code == 400)
        let errcode = Envelope.error(.errcode, failure, requestId: "r1")
        #expect(errcode.status.code == 400)
        let styles = EnvelopeStyles()
        styles.register("/echart", .statusMsg)
        styles.register("/v1/export", .errcode)
        styles.register("/api/data-flow", .codeMessage)
        #expect(styles.style(for: "/echart/dataset_api/") == .statusMsg)
        #expect(styles.style(for: "/v1/export/detail") == .errcode)
        #expect(styles.style(for: "/v1/exporter") == .gateway)
        #expect(styles.style(for: "/api/data-flow/list") == .codeMessage)
    }
}
