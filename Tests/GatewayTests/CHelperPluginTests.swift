import Foundation
import Testing
@testable import Host

/// The C helper header (sdk/c) and the plugins written on it: a format and an exporter in C,
/// configured by the administrator (and per export request where their schema allows),
/// used through the HTTP API; the start-up check of every configured plugin use; and what
/// a client hears when a source breaks the Arrow contract.
@Suite struct CHelperPluginTests {
    /// The header's own tests (known answers, 200,000 mutated config documents) under
    /// AddressSanitizer and UndefinedBehaviorSanitizer, built as strictly as we can.
    @Test func helperHeaderPassesItsTestsUnderSanitizers() throws {
        let dir = TestSupport.temporaryDirectory("c-helpers")
        let build = try TestSupport.run(
            "/usr/bin/env",
            [
                "cc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-g",
                "-fsanitize=address,undefined", "-fno-sanitize-recover=all",
                "-I", TestSupport.abiInclude, "-I", TestSupport.helpersInclude,
                "-o", "\(dir)/helpers_test", "\(TestSupport.helpersInclude)/tests/helpers_test.c", "-lm",
            ])
        try #require(build.status == 0, "\(build.output)")
        let run = try TestSupport.run("\(dir)/helpers_test", [])
        #expect(run.status == 0 && run.output.hasPrefix("ok "), "\(run.output)")
    }

    /// sdk/c's fake host table: the C fixture sink unit-tested without the gateway (open,
    /// begin, a batch from the helpers, commit; a refused row reaches the fake's reject_row;
    /// state round-trips), under the sanitizers.
    @Test func aCPluginIsUnitTestedWithTheFakeHost() throws {
        let dir = TestSupport.temporaryDirectory("c-fake-host")
        let build = try TestSupport.run(
            "/usr/bin/env",
            [
                "cc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-g",
                "-fsanitize=address,undefined", "-fno-sanitize-recover=all",
                "-I", TestSupport.abiInclude, "-I", TestSupport.helpersInclude,
                "-o", "\(dir)/fake_test", "\(TestSupport.fixtures)/fake_host_sink_test.c",
                "\(TestSupport.fixtures)/fixture_sink.c",
            ])
        try #require(build.status == 0, "\(build.output)")
        let run = try TestSupport.run("\(dir)/fake_test", ["\(dir)/out.tsv"])
        #expect(run.status == 0 && run.output == "ok\n", "\(run.output)")
    }

    /// The layout checks catch a plugin built with another struct packing.
    @Test func layoutChecksRefuseAWrongLayout() throws {
        let dir = TestSupport.temporaryDirectory("c-layout")
        try "#include \"gateway_plugin_helpers.h\"\n".write(toFile: "\(dir)/p.c", atomically: true, encoding: .utf8)
        func compile(_ extra: [String]) throws -> TestSupport.ProcessResult {
            try TestSupport.run(
                "/usr/bin/env",
                ["cc", "-std=c99", "-c", "-I", TestSupport.abiInclude, "-I", TestSupport.helpersInclude]
                    + extra + ["-o", "\(dir)/p.o", "\(dir)/p.c"])
        }
        #expect(try compile([]).status == 0)
        let packed = try compile(["-fpack-struct=4"])
        #expect(packed.status != 0 && packed.output.contains("gwh_layout_"), "\(packed.output)")
    }

    static func plugins() throws -> String {
        let dir = TestSupport.temporaryDirectory("c-plugins")
        for name in ["fixture_ndjson", "fixture_tsv"] {
            try TestSupport.compilePlugin(source: "\(TestSupport.fixtures)/\(name).c", output: "\(dir)/\(name).so")
        }
        try TestSupport.compilePlugin(source: "\(TestSupport.fixtures)/fixture_plugin.c", output: "\(dir)/good.so")
        return dir
    }

    static let rowsSQL = "SELECT 1 AS id, 'a\tb' AS name, NULL AS note UNION ALL SELECT 2, 'c', 'x'"

    /// In the gateway's process and in a worker process (`plugins.isolation`): the same bytes.
    @Test(arguments: ["in_process", "process"])
    func aCFormatServesQueriesWithTheAdministratorsConfig(isolation: String) async throws {
        let dir = try Self.plugins()
        let gateway = try TestSupport.gateway(pluginDirs: [dir]) {
            $0.plugins.config = ["fixture.ndjson": .object(["omit_nulls": .bool(true)])]
            $0.plugins.isolation = ["default": isolation]
        }
        let checks = PluginVerifier(services: gateway.services, scratchDirectory: gateway.dataDirectory).verify(path: "\(dir)/fixture_ndjson.so")
        #expect(checks.allSatisfy { $0.passed }, "\(checks)")
        let (_, token) = try gateway.tokens.create(name: "q", scopes: ["query"])
        try await TestServer.with(gateway) { server in
            let reply = try await server.request(.GET, ResourceLimitTests.storeQuery(Self.rowsSQL, token: token) + "&format=ndjson")
            #expect(reply.status == 200 && reply.headers.first(name: "content-type") == "application/x-ndjson", "\(reply.text)")
            #expect(reply.text == "{\"id\":1,\"name\":\"a\\tb\"}\n{\"id\":2,\"name\":\"c\",\"note\":\"x\"}\n", "\(reply.text)")
            // In a worker indeed: the plugin keeps one for its next instance.
            if isolation == "process" { #expect(try await TestSupport.keptWorkers(gateway, "fixture.ndjson") > 0) }
            // No rows: nothing at all, and still a 200.
            let empty = try await server.request(.GET, ResourceLimitTests.storeQuery("SELECT 1 AS id WHERE 0", token: token) + "&format=ndjson")
            #expect(empty.status == 200 && empty.body.isEmpty)
        }
    }

    /// A format that segfaults in write_batch, in a worker: the client gets a 500 naming the
    /// plugin, the signal and the call; the gateway serves on (a dataset query meanwhile, the
    /// JSON format after).
    @Test func aCFormatThatCrashesInItsWorkerFailsOnlyItsQuery() async throws {
        let dir = TestSupport.temporaryDirectory("c-format-crash")
        try TestSupport.compilePlugin(
            source: "\(TestSupport.fixtures)/fixture_ndjson.c", output: "\(dir)/fixture_ndjson.so", defines: ["FIXTURE_CRASH_IN_WRITE"])
        let gateway = try TestSupport.gateway(pluginDirs: [dir]) { $0.plugins.isolation = ["fixture.ndjson": "process"] }
        let (_, token) = try gateway.tokens.create(name: "q", scopes: ["query"])
        try await TestServer.with(gateway) { server in
            let reply = try await server.request(.GET, ResourceLimitTests.storeQuery(Self.rowsSQL, token: token) + "&format=ndjson")
            let message = (reply.json["error"] as? [String: Any])?["message"] as? String ?? ""
            #expect(
                reply.status == 500 && message.hasPrefix("plugin 'fixture.ndjson' crashed (signal 11, Segmentation fault) during write_batch"),
                "\(reply.status) \(reply.text.prefix(300))")
            let json = try await server.request(.GET, ResourceLimitTests.storeQuery(Self.rowsSQL, token: token))
            #expect(json.status == 200 && json.text.contains(#""name":"c""#), "\(json.text.prefix(300))")
        }
    }

    /// In the gateway's process and in a worker process (`plugins.isolation`): the same files.
    @Test(arguments: ["in_process", "process"])
    func aCExporterWritesFilesWithAdminAndRequestOptions(isolation: String) async throws {
        let dir = try Self.plugins()
        let gateway = try TestSupport.gateway(pluginDirs: [dir]) {
            $0.plugins.config = ["fixture.tsv": .object(["null_text": .string("\\N")])]
            $0.plugins.isolation = ["default": isolation]
        }
        let checks = PluginVerifier(services: gateway.services, scratchDirectory: gateway.dataDirectory).verify(path: "\(dir)/fixture_tsv.so")
        #expect(checks.allSatisfy { $0.passed }, "\(checks)")
        let (_, token) = try gateway.tokens.create(name: "e", scopes: ["export"])
        try await TestServer.with(gateway) { server in
            let raw = #"[{"id":"ID","name":"Name","note":"Note"},{"id":1,"name":"a\tb"},{"id":2,"name":"c","note":"x"}]"#
            func export(_ options: [String: Any]?) async throws -> TestServer.Reply {
                var body: [String: Any] = ["ext_type": "tsv", "title": "rows", "user_id": "u", "source_raw": raw]
                if let options { body["ext_options"] = options }
                return try await ExportTests.post(server, "/v1/export/raw", body, token: token)
            }
            func tsv(_ reply: TestServer.Reply) async throws -> String {
                let key = try #require((reply.json["data"] as? [String: Any])?["hash_key"] as? String, "\(reply.text)")
                let done = try await ExportTests.waitForEnd(server, key: key, token: token)
                #expect(done["status"] as? Int == 2, "\(done)")
                return try await ExportTests.downloadedFiles(server, key: key, token: token)
            }
            #expect(try await tsv(try await export(nil)) == "rows.tsv 'ID\\tName\\tNote\\n1\\ta\\\\tb\\t\\\\N\\n2\\tc\\tx\\n'\n")
            // In a worker indeed: the plugin keeps one for its next instance.
            if isolation == "process" { #expect(try await TestSupport.keptWorkers(gateway, "fixture.tsv") > 0) }
            // The schema lets a request choose the header; the request's options change the task.
            #expect(try await tsv(try await export(["header": false])) == "rows.tsv '1\\ta\\\\tb\\t\\\\N\\n2\\tc\\tx\\n'\n")
            // What the schema keeps for the administrator, or the wrong type, is the client's 400.
            let refused = try await export(["null_text": "-"])
            #expect(
                refused.status == 400
                    && refused.json["msg"] as? String
                        == "ext_options.null_text: the TSV exporter does not take it per request (it takes: header)",
                "\(refused.text)")
            let wrongType = try await export(["header": "no"])
            #expect(wrongType.status == 400 && wrongType.json["msg"] as? String == "ext_options: field 'header' must be a boolean, not a string")
            let csv = try await ExportTests.post(
                server, "/v1/export/raw",
                [
                    "ext_type": "csv", "user_id": "u", "source_raw": raw,
                    "ext_options": ["header": false],
                ], token: token)
            #expect(csv.status == 400 && csv.json["msg"] as? String == "ext_options: the built-in CSV export takes none")
        }
    }

    /// Every configured use is checked when the gateway starts: the administrator sees the
    /// wrong ones in GET /admin/plugins (and the log), and a client querying one hears that
    /// the gateway is misconfigured, not that its request was bad.
    @Test func startUpChecksEveryConfiguredUse() async throws {
        let dir = try Self.plugins()
        let gateway = try TestSupport.gateway(pluginDirs: [dir]) {
            $0.datasources = [
                "good": DatasourceDefinition(plugin: "fixture.good", config: .object(["rows": .number(3)])),
                "typo": DatasourceDefinition(plugin: "fixture.good", config: .object(["rows": .string("3")])),
                "gone": DatasourceDefinition(plugin: "acme.orders"),
            ]
            $0.plugins.config = ["fixture.ndjson": .object(["line_end": .string("|")]), "fixture.tsv": .object(["header": .bool(false)])]
        }
        let uses = gateway.pluginUses()
        func status(_ use: String) -> (String, String?) {
            let found = uses.first { $0.use == use }
            return (found?.status ?? "absent", found?.reason)
        }
        #expect(status("datasources.good").0 == "ok")
        #expect(status("datasources.typo") == ("invalid", "field 'rows' must be an integer, not a string"))
        #expect(status("datasources.gone").0 == "missing")
        #expect(status("plugins.config.fixture.ndjson") == ("invalid", #"field 'line_end' must be one of "\n", "\r\n""#))
        #expect(status("plugins.config.fixture.tsv").0 == "ok")
        let (_, admin) = try gateway.tokens.create(name: "a", scopes: ["admin", "query"])
        try await TestServer.with(gateway) { server in
            let listed = try await server.request(.GET, "/admin/plugins", headers: [("Authorization", "Bearer \(admin)")])
            let rows = try #require(listed.json["data"] as? [[String: Any]])
            let good = try #require(rows.first { $0["id"] as? String == "fixture.good" })
            let goodUses = try #require(good["uses"] as? [[String: Any]])
            #expect(Set(goodUses.compactMap { $0["use"] as? String }) == ["datasources.good", "datasources.typo"])
            let missing = try #require(rows.first { $0["id"] as? String == "acme.orders" })
            #expect(missing["status"] as? String == "missing")
            let query = try await server.request(.GET, "/api/v1/datasource/typo/query?token=\(admin)")
            #expect(
                query.status == 500
                    && (query.json["message"] as? String ?? query.text).contains(
                        "datasource 'typo' is misconfigured on this gateway: "),
                "\(query.text)")
            // The same for a format whose own config (plugins.config) the plugin refuses.
            let formatted = try await server.request(.GET, ResourceLimitTests.storeQuery("SELECT 1 AS a", token: admin) + "&format=ndjson")
            #expect(
                formatted.status == 500
                    && formatted.text.contains(
                        #"format 'ndjson' is misconfigured on this gateway: field 'line_end' must be \"\\n\" or \"\\r\\n\""#),
                "\(formatted.text)")
        }
    }

    /// A source yielding a column type the ABI does not name: the client hears which plugin
    /// and which column, not "internal error".
    @Test func anUnknownColumnTypeIsNamedToTheClient() async throws {
        let dir = TestSupport.temporaryDirectory("odd-type")
        try TestSupport.compilePlugin(source: "\(TestSupport.fixtures)/fixture_plugin.c", output: "\(dir)/odd.so", defines: ["FIXTURE_ODD_TYPE"])
        let gateway = try TestSupport.gateway(pluginDirs: [dir]) {
            $0.datasources = ["odd": DatasourceDefinition(plugin: "fixture.good", config: .object(["rows": .number(3)]))]
        }
        let (_, token) = try gateway.tokens.create(name: "q", scopes: ["query"])
        try await TestServer.with(gateway) { server in
            let reply = try await server.request(.GET, "/api/v1/datasource/odd/query?token=\(token)")
            #expect(reply.status == 500)
            #expect(
                reply.text.contains(
                    "source plugin 'fixture.good' produced data the gateway cannot read: invalid Arrow data: column 1 ('name') has Arrow type 'tDs', which the ABI does not name"
                ), "\(reply.text)")
        }
    }
}
