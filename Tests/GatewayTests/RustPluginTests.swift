import Foundation
import PluginKit
import Testing
@testable import Host

/// The Rust SDK (`sdk/rust/gateway-plugin`, std only) and plugins of every kind written with
/// it (`Examples/RustSource`, `RustSink`, `RustFormat`, `RustExporter`), built offline with
/// cargo: its structs laid out as the C header's, each plugin verified and used through the
/// real HTTP API.
@Suite(.serialized) struct RustPluginTests {
    static let root = TestSupport.packageRoot.path

    static func cargo(_ arguments: [String], environment: [String: String] = [:]) throws -> TestSupport.ProcessResult {
        let env = environment.map { "\($0.key)=\($0.value)" }
        return try TestSupport.run("/usr/bin/env", env + ["cargo"] + arguments + ["--offline"])
    }

    /// An example built (see `buildExample`), checked by `plugins verify` (every check must
    /// pass), and a test gateway loading it with `isolation` for every plugin.
    static func verifiedExample(
        _ example: String, library: String, isolation: String, configure: (inout GatewayConfig) -> Void = { _ in }
    )
        throws -> (plugins: String, gateway: Gateway)
    {
        let plugins = try buildExample(example, library: library)
        let gateway = try TestSupport.gateway(pluginDirs: [plugins]) { config in
            config.plugins.isolation = ["default": isolation]
            configure(&config)
        }
        let checks = PluginVerifier(services: gateway.services, scratchDirectory: gateway.dataDirectory).verify(path: "\(plugins)/lib\(library).so")
        #expect(checks.allSatisfy { $0.passed }, "\(checks)")
        return (plugins, gateway)
    }

    /// Builds `Examples/<example>` with cargo into a fresh target directory and copies its
    /// library, `lib<library>.so`, into a plugin folder of its own, which it returns.
    static func buildExample(_ example: String, library: String) throws -> String {
        try build(
            manifest: "\(Self.root)/Examples/\(example)/Cargo.toml", library: library, work: TestSupport.temporaryDirectory("rust-\(example.lowercased())"))
    }

    /// Builds the crate of `manifest` into `work`/target and copies its `lib<library>.so`
    /// into `work`/plugins, which it returns.
    static func build(manifest: String, library: String, work: String) throws -> String {
        let built = try Self.cargo(["build", "--release", "--manifest-path", manifest, "--target-dir", "\(work)/target"])
        try #require(built.status == 0, "\(built.output)")
        let plugins = "\(work)/plugins"
        try FileManager.default.createDirectory(atPath: plugins, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: "\(work)/target/release/lib\(library).so", toPath: "\(plugins)/lib\(library).so")
        return plugins
    }

    @Test func theSDKsStructsAreLaidOutAsTheHeaders() throws {
        let dir = TestSupport.temporaryDirectory("rust-layout")
        let compiled = try TestSupport.run(
            "/usr/bin/env",
            [
                "cc", "-std=c99", "-Wall", "-Werror", "-I", TestSupport.abiInclude,
                "-o", "\(dir)/layout", "\(TestSupport.fixtures)/abi_layout_print.c",
            ])
        #expect(compiled.status == 0, "\(compiled.output)")
        let printed = try TestSupport.run("\(dir)/layout", [])
        try printed.output.write(toFile: "\(dir)/layout.txt", atomically: true, encoding: .utf8)
        let tested = try Self.cargo(
            ["test", "--manifest-path", "\(Self.root)/sdk/rust/gateway-plugin/Cargo.toml", "--target-dir", "\(dir)/target"],
            environment: ["GW_C_LAYOUT": "\(dir)/layout.txt"])
        #expect(tested.status == 0 && tested.output.contains("layouts_match_the_header ... ok"), "\(tested.output)")
        // Every column type the Rust batch builder makes, checked byte by byte as exported.
        #expect(tested.output.contains("every_type_is_exported_as_the_abi_says ... ok"), "\(tested.output)")
        #expect(tested.output.contains("values_outside_a_column_are_errors_never_cut ... ok"), "\(tested.output)")
        // The reader on every type and on broken arrays; the other kinds driven through their vtables.
        #expect(tested.output.contains("every_type_reads_back_as_it_was_built ... ok"), "\(tested.output)")
        #expect(tested.output.contains("broken_arrays_are_refused_before_any_read ... ok"), "\(tested.output)")
        #expect(tested.output.contains("a_sinks_errors_and_panics_come_back_as_statuses_and_abort_then_close_follow ... ok"), "\(tested.output)")
    }

    /// The guide's Rust examples (a source, a sink), built as shown, pass verify.
    @Test(arguments: [
        ("rust-source", "1 columns, 5 rows in 1 batches, every batch well-formed"),
        ("rust-sink", "8 rows committed"),
    ])
    func theGuidesRustExampleBuildsAndPassesVerify(example: String, detail: String) throws {
        let work = TestSupport.temporaryDirectory("rust-doc")
        try FileManager.default.createDirectory(atPath: "\(work)/src", withIntermediateDirectories: true)
        try DocsExamplesTests.block(after: "<!-- example:\(example) -->", fence: "rust").write(toFile: "\(work)/src/lib.rs", atomically: true, encoding: .utf8)
        try """
        [package]
        name = "rust-counter"
        version = "1.0.0"
        edition = "2021"

        [lib]
        crate-type = ["cdylib"]

        [dependencies]
        gateway-plugin = { path = "\(Self.root)/sdk/rust/gateway-plugin" }
        """.write(toFile: "\(work)/Cargo.toml", atomically: true, encoding: .utf8)
        let built = try Self.cargo(["build", "--release", "--manifest-path", "\(work)/Cargo.toml"])
        try #require(built.status == 0, "\(built.output)")
        let gateway = try TestSupport.gateway()
        let checks = PluginVerifier(services: gateway.services, scratchDirectory: gateway.dataDirectory).verify(
            path: "\(work)/target/release/librust_counter.so")
        #expect(checks.allSatisfy { $0.passed } && checks.contains { $0.detail == detail }, "\(checks)")
    }

    @Test func aRustSourcePassesVerifyAndIsQueried() async throws {
        let plugins = try Self.buildExample("RustSource", library: "rust_squares")

        let gateway = try TestSupport.gateway(pluginDirs: [plugins]) { config in
            config.datasources = [
                "squares": DatasourceDefinition(plugin: "example.rust-squares", config: .object(["count": .number(1000), "batch_size": .number(300)]))
            ]
        }
        let checks = PluginVerifier(services: gateway.services, scratchDirectory: gateway.dataDirectory).verify(path: "\(plugins)/librust_squares.so")
        #expect(checks.allSatisfy { $0.passed }, "\(checks)")
        #expect(checks.contains { $0.detail == "3 columns, 25 rows in 3 batches, every batch well-formed" })

        let (_, token) = try gateway.tokens.create(name: "reader", scopes: ["query"])
        try await TestServer.with(gateway) { server in
            let reply = try await server.request(.GET, "/api/v1/datasource/squares/query?token=\(token)")
            #expect(reply.status == 200)
            let rows = try #require(try JSONSerialization.jsonObject(with: Data(reply.body)) as? [[String: Any]])
            #expect(rows.count == 1000)
            #expect(rows[1]["n"] as? Int == 2 && rows[1]["square"] as? Int == 4 && rows[1]["label"] as? String == "row 2")
            #expect(rows[2]["label"] is NSNull && rows[999]["square"] as? Int == 1_000_000)
            // A row limit reaches the plugin's read request.
            let limited = try await server.request(.GET, "/api/v1/datasource/squares/query?token=\(token)&RowLimit=5")
            #expect((try JSONSerialization.jsonObject(with: Data(limited.body)) as? [Any])?.count == 5)
        }
    }

    /// A Rust panic that escapes (the example source built with `panic = "abort"`, where the
    /// SDK's catch at each entry cannot hold it, panicking in its third batch of a large read)
    /// in a worker process: the process aborts, the query fails naming the plugin and the
    /// signal, a query of a dataset is served meanwhile, and the plugin's next use works. (In
    /// the gateway's own process it would abort the gateway: that is the trade of `in_process`.)
    @Test func aRustPanicThatEscapesTakesDownOnlyItsWorker() async throws {
        let work = TestSupport.temporaryDirectory("rust-panic")
        let crate = "\(work)/crate"
        try FileManager.default.createDirectory(atPath: "\(crate)/src", withIntermediateDirectories: true)
        let manifest = try String(contentsOfFile: "\(Self.root)/Examples/RustSource/Cargo.toml", encoding: .utf8)
            .replacingOccurrences(of: "path = \"../../sdk/rust/gateway-plugin\"", with: "path = \"\(Self.root)/sdk/rust/gateway-plugin\"")
            .replacingOccurrences(of: "panic = \"unwind\"", with: "panic = \"abort\"")
        try manifest.write(toFile: "\(crate)/Cargo.toml", atomically: true, encoding: .utf8)
        try FileManager.default.copyItem(atPath: "\(Self.root)/Examples/RustSource/Cargo.lock", toPath: "\(crate)/Cargo.lock")
        let source = try String(contentsOfFile: "\(Self.root)/Examples/RustSource/src/lib.rs", encoding: .utf8)
        let marker = "if self.next > self.last { return Ok(None); }"
        try #require(source.contains(marker))
        try source.replacingOccurrences(
            of: marker, with: marker + "\n        if self.last > 500 && self.next > 2 * self.batch_size { panic!(\"a bug in the plugin\"); }"
        ).write(toFile: "\(crate)/src/lib.rs", atomically: true, encoding: .utf8)
        let plugins = try Self.build(manifest: "\(crate)/Cargo.toml", library: "rust_squares", work: work)

        let gateway = try TestSupport.gateway(pluginDirs: [plugins]) { config in
            config.plugins.isolation = ["example.rust-squares": "process"]
            config.datasources = [
                "big": DatasourceDefinition(plugin: "example.rust-squares", config: .object(["count": .number(1000), "batch_size": .number(100)])),
                "small": DatasourceDefinition(plugin: "example.rust-squares", config: .object(["count": .number(20), "batch_size": .number(10)])),
            ]
            config.datasets = ["orders": DatasetDefinition(table: "orders(o_id integer, region text)")]
        }
        let (_, token) = try gateway.tokens.create(name: "reader", scopes: ["query"])
        try await TestServer.with(gateway) { server in
            async let crashed = server.request(.GET, "/api/v1/datasource/big/query?token=\(token)")
            let dataset = try await server.request(.GET, "/api/v1/dataset/orders/query?token=\(token)")
            #expect(dataset.status == 200)
            let reply = try await crashed
            #expect(reply.status == 500, "\(reply.status) \(reply.text.prefix(300))")
            #expect(
                reply.text.contains("plugin 'example.rust-squares' crashed (signal 6, Aborted) during next"), "\(reply.text.prefix(300))")
            let next = try await server.request(.GET, "/api/v1/datasource/small/query?token=\(token)")
            let rows = try JSONSerialization.jsonObject(with: Data(next.body)) as? [Any]
            #expect(next.status == 200 && rows?.count == 20, "\(next.text.prefix(300))")
        }
    }

    /// A dataflow from a dataset into the Rust sink: every row is a JSON line in the file once
    /// the run committed; a run that fails part way leaves no file (nor a temporary one), and
    /// one into the existing file leaves it as it was. The same in the gateway's process and
    /// in a worker process (`plugins.isolation`).
    @Test(arguments: ["in_process", "process"])
    func aRustSinkTakesADataflowsRowsAndAFailedRunLeavesNoFile(isolation: String) async throws {
        let (_, gateway) = try Self.verifiedExample("RustSink", library: "rust_jsonl_sink", isolation: isolation) { config in
            config.dataflows.requireToken = false
            config.datasets = ["orders": DatasetDefinition(table: "orders(o_id integer, region text, amount real, day date)", keys: ["o_id"])]
        }
        try DataflowTests.fillOrders(gateway, count: 50)
        let out = TestSupport.temporaryDirectory("rust-sink-out")
        try await TestServer.with(gateway) { server in
            let config: [String: Any] = [
                "source": ["type": "dataset", "id": "orders"],
                "target": ["type": "plugin", "plugin": "example.rust-jsonl-sink", "config": ["path": "\(out)/orders.jsonl"]],
                "batch_size": 7,
            ]
            let (_, ended) = try await DataflowTests.runToEnd(server, name: "orders into rust", config: config)
            #expect(ended["status"] as? String == "completed", "\(ended)")
            #expect(ended["rows_read"] as? Int == 50 && ended["rows_written"] as? Int == 50, "\(ended)")
            let written = try String(contentsOfFile: "\(out)/orders.jsonl", encoding: .utf8)
            let lines = written.split(separator: "\n", omittingEmptySubsequences: false)
            #expect(lines.count == 51 && lines.last == "", "every row a line, each ended by a newline: \(written)")
            var seen = Set<Int>()
            for line in lines.dropLast() {
                let row = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "\(line)")
                let id = try #require(row["o_id"] as? Int, "\(line)")
                seen.insert(id)
                #expect(row.count == 4 && row["region"] as? String == ["east", "west", "north"][id % 3], "\(line)")
                #expect(row["amount"] as? Double == Double(id) + 0.5, "\(line)")
                #expect(row["day"] as? String == "2026-11-\(String(format: "%02d", id % 28 + 1))", "\(line)")
            }
            #expect(seen == Set(0..<50))
            // Keys in the dataset's column order.
            #expect(lines.first?.hasPrefix(#"{"o_id":"#) == true && lines.first?.contains(#","region":"#) == true, "\(written)")

            // A source that fails after three batches of 7 (row 25 is text in an integer
            // column): the sink began and took rows, then was aborted.
            let failing: [String: Any] = [
                "source": [
                    "type": "sql",
                    "query":
                        "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 40) SELECT CASE WHEN n < 25 THEN n ELSE 'x' || n END AS id FROM c",
                ],
                "target": ["type": "plugin", "plugin": "example.rust-jsonl-sink", "config": ["path": "\(out)/orders.jsonl"]],
                "batch_size": 7,
            ]
            let failedDir = TestSupport.temporaryDirectory("rust-sink-failed")
            var elsewhere = failing
            elsewhere["target"] = ["type": "plugin", "plugin": "example.rust-jsonl-sink", "config": ["path": "\(failedDir)/new.jsonl"]] as [String: Any]
            let (_, failed) = try await DataflowTests.runToEnd(server, name: "failing into a new file", config: elsewhere)
            #expect(failed["status"] as? String == "failed" && failed["rows_written"] as? Int == 0, "\(failed)")
            #expect(try FileManager.default.contentsOfDirectory(atPath: failedDir).isEmpty, "an aborted run leaves nothing")
            let (_, failedAgain) = try await DataflowTests.runToEnd(server, name: "failing into the file", config: failing)
            #expect(failedAgain["status"] as? String == "failed", "\(failedAgain)")
            #expect(try String(contentsOfFile: "\(out)/orders.jsonl", encoding: .utf8) == written)
            #expect(try FileManager.default.contentsOfDirectory(atPath: out) == ["orders.jsonl"])
        }
    }

    /// A query answered by the Rust format: NDJSON, line by line, in several batches, the
    /// format's name matched case-insensitively; no rows, no body.
    @Test(arguments: ["in_process", "process"])
    func aRustFormatServesQueries(isolation: String) async throws {
        let (_, gateway) = try Self.verifiedExample("RustFormat", library: "rust_ndjson_format", isolation: isolation)
        let (_, token) = try gateway.tokens.create(name: "q", scopes: ["query"])
        try await TestServer.with(gateway) { server in
            let reply = try await server.request(.GET, ResourceLimitTests.storeQuery(CHelperPluginTests.rowsSQL, token: token) + "&format=ndjson-rust")
            #expect(reply.status == 200 && reply.headers.first(name: "content-type") == "application/x-ndjson", "\(reply.text)")
            let lines = reply.text.split(separator: "\n", omittingEmptySubsequences: false)
            #expect(lines == [#"{"id":1,"name":"a\tb","note":null}"#, #"{"id":2,"name":"c","note":"x"}"#, ""], "\(reply.text)")

            let many = "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 25000) SELECT n, n * 0.5 AS half, 'row ' || n AS label FROM c"
            let big = try await server.request(.GET, ResourceLimitTests.storeQuery(many, token: token) + "&format=NDJSON-Rust")
            #expect(big.status == 200, "\(big.text.prefix(300))")
            let bigLines = big.text.split(separator: "\n", omittingEmptySubsequences: false)
            #expect(bigLines.count == 25_001 && bigLines.last == "")
            for (i, line) in bigLines.dropLast().enumerated() where i % 997 == 0 || i == 24_999 {
                let n = i + 1
                let row = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "\(line)")
                #expect(row["n"] as? Int == n && row["half"] as? Double == Double(n) * 0.5 && row["label"] as? String == "row \(n)", "\(line)")
            }

            let empty = try await server.request(.GET, ResourceLimitTests.storeQuery("SELECT 1 AS id WHERE 0", token: token) + "&format=ndjson-rust")
            #expect(empty.status == 200 && empty.body.isEmpty, "\(empty.text)")
        }
    }

    /// An export through the Rust exporter: one .tsv file with a header, values as text,
    /// tabs inside a value escaped, a null as an empty field.
    @Test(arguments: ["in_process", "process"])
    func aRustExporterWritesTheExportsFile(isolation: String) async throws {
        let (_, gateway) = try Self.verifiedExample("RustExporter", library: "rust_tsv_exporter", isolation: isolation)
        let (_, token) = try gateway.tokens.create(name: "e", scopes: ["export"])
        try await TestServer.with(gateway) { server in
            let raw = #"[{"id":"ID","name":"Name","note":"Note"},{"id":1,"name":"a\tb"},{"id":2,"name":"c","note":"x"}]"#
            let reply = try await ExportTests.post(
                server, "/v1/export/raw", ["ext_type": "tsv-rust", "title": "rows", "user_id": "u", "source_raw": raw], token: token)
            let key = try #require((reply.json["data"] as? [String: Any])?["hash_key"] as? String, "\(reply.text)")
            let done = try await ExportTests.waitForEnd(server, key: key, token: token)
            #expect(done["status"] as? Int == 2, "\(done)")
            let listed = try await ExportTests.downloadedFiles(server, key: key, token: token)
            #expect(listed == "rows.tsv 'ID\\tName\\tNote\\n1\\ta\\\\tb\\t\\n2\\tc\\tx\\n'\n", "\(listed)")
        }
    }
}
