import Foundation
import PluginKit
import Testing
@testable import Host

/// The Rust SDK (`sdk/rust/gateway-plugin`, std only) and a source plugin written with it
/// (`Examples/RustSource`), built offline with cargo: its structs laid out as the C header's,
/// the plugin verified and queried through the real HTTP API.
@Suite(.serialized) struct RustPluginTests {
    static let root = TestSupport.packageRoot.path

    static func cargo(_ arguments: [String], environment: [String: String] = [:]) throws -> TestSupport.ProcessResult {
        let env = environment.map { "\($0.key)=\($0.value)" }
        return try TestSupport.run("/usr/bin/env", env + ["cargo"] + arguments + ["--offline"])
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
    }

    /// The guide's Rust example, built as shown, passes verify.
    @Test func theGuidesRustExampleBuildsAndPassesVerify() throws {
        let work = TestSupport.temporaryDirectory("rust-doc")
        try FileManager.default.createDirectory(atPath: "\(work)/src", withIntermediateDirectories: true)
        try DocsExamplesTests.block(after: "<!-- example:rust-source -->", fence: "rust").write(toFile: "\(work)/src/lib.rs", atomically: true, encoding: .utf8)
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
        #expect(checks.allSatisfy { $0.passed } && checks.contains { $0.detail == "1 columns, 5 rows in 1 batches, every batch well-formed" }, "\(checks)")
    }

    @Test func aRustSourcePassesVerifyAndIsQueried() async throws {
        let work = TestSupport.temporaryDirectory("rust-source")
        let built = try Self.cargo(["build", "--release", "--manifest-path", "\(Self.root)/Examples/RustSource/Cargo.toml", "--target-dir", "\(work)/target"])
        try #require(built.status == 0, "\(built.output)")
        let plugins = "\(work)/plugins"
        try FileManager.default.createDirectory(atPath: plugins, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: "\(work)/target/release/librust_squares.so", toPath: "\(plugins)/librust_squares.so")

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
}
