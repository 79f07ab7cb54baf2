import AsyncHTTPClient
import Foundation
import Testing
@testable import Host

/// The real `gateway serve` binary: starts on defaults plus a port, re-scans on SIGHUP,
/// and exits cleanly on SIGTERM.
@Suite struct ServeCommandTests {
    @Test func serveRescansOnHangupAndStopsOnTerm() async throws {
        let work = TestSupport.temporaryDirectory("serve")
        let plugins = TestSupport.temporaryDirectory("serve-plugins")
        let process = try ChildProcess(
            "/usr/bin/env", ["-C", work, try TestSupport.product("gateway"), "serve", "--port", "0", "--data-dir", "\(work)/data", "--plugin-dir", plugins],
            stdout: .pipe)
        defer { process.signal(SIGTERM) }

        // The first lines say where it listens and where the admin token is.
        var printed = ""
        Self.read(process, until: "plugins loaded", into: &printed)
        let portText = try #require(printed.firstMatch(of: /listening on http:\/\/127\.0\.0\.1:(\d+)/)?.1)
        let base = "http://127.0.0.1:\(portText)"
        // A listed plugin folder adds to the built-in one (the binary's, with the shipped
        // plugins): `format=arrow` keeps working.
        let shipped = try #require(printed.firstMatch(of: /plugins loaded: (\d+) active, 0 refused/)?.1).description
        #expect(Int(shipped) ?? 0 >= 5, "\(printed)")
        let admin = try String(contentsOfFile: "\(work)/data/admin-token", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)

        try TestSupport.compilePlugin(source: "\(TestSupport.fixtures)/fixture_plugin.c", output: "\(plugins)/good.so")
        process.signal(SIGHUP)
        var found = false
        for _ in 0..<100 where !found {
            var request = HTTPClientRequest(url: "\(base)/admin/plugins")
            request.headers.add(name: "Authorization", value: "Bearer \(admin)")
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
            let body = String(buffer: try await response.body.collect(upTo: 1 << 20))
            found = body.contains("\"id\":\"fixture.good\"") && body.contains("\"id\":\"arrow.ipc\"")
            if !found { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(found, "SIGHUP did not load the new plugin")

        process.signal(SIGTERM)
        #expect(process.wait() == .exited(0))
    }

    /// Reads the process's output into `printed` until it contains `marker` (or ends).
    static func read(_ process: ChildProcess, until marker: String, into printed: inout String) {
        while !printed.contains(marker) {
            let chunk = process.read()
            guard !chunk.isEmpty else { break }
            printed += String(decoding: chunk, as: UTF8.self)
        }
    }

    /// Plugins load behind the server: one whose `init` takes 6 s never delays serving (the
    /// admin API answers while it loads, without it), then serves once loaded; the log names
    /// it as it starts and ends loading.
    @Test func aSlowPluginNeverDelaysServing() async throws {
        let plugins = TestSupport.temporaryDirectory("slow-plugins")
        try TestSupport.compilePlugin(
            source: "\(TestSupport.fixtures)/fixture_plugin.c", output: "\(plugins)/slow.so", defines: ["FIXTURE_SLOW_INIT=6"])
        let work = TestSupport.temporaryDirectory("slow")
        let process = try ChildProcess(
            "/usr/bin/env", ["-C", work, try TestSupport.product("gateway"), "serve", "--port", "0", "--data-dir", "\(work)/data", "--plugin-dir", plugins],
            environment: ProcessInfo.processInfo.environment.merging(["GATEWAY_PLUGINS_BUILTIN": "false", "GATEWAY_LOG_LEVEL": "info"]) { $1 },
            stdout: .pipe, stderr: .stdout)
        defer { process.signal(SIGTERM) }
        var printed = ""
        Self.read(process, until: "admin token", into: &printed)
        let portText = try #require(printed.firstMatch(of: /listening on http:\/\/127\.0\.0\.1:(\d+)/)?.1)
        let admin = try String(contentsOfFile: "\(work)/data/admin-token", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        func listed() async throws -> String {
            var request = HTTPClientRequest(url: "http://127.0.0.1:\(portText)/admin/plugins")
            request.headers.add(name: "Authorization", value: "Bearer \(admin)")
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
            #expect(response.status == .ok)
            return String(buffer: try await response.body.collect(upTo: 1 << 20))
        }
        // Answered while the plugin's init still sleeps: serving did not wait for it.
        #expect(try await !listed().contains("fixture.good"))
        var loaded = false
        for _ in 0..<300 where !loaded {
            loaded = try await listed().contains("\"id\":\"fixture.good\"")
            if !loaded { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(loaded, "the slow plugin never loaded")
        Self.read(process, until: "plugins loaded", into: &printed)
        #expect(printed.contains("plugin loading \(plugins)/slow.so"), "\(printed)")
        #expect(printed.contains("plugins loaded: 1 active, 0 refused"), "\(printed)")
        process.signal(SIGTERM)
        #expect(process.wait() == .exited(0))
    }

    /// The data folder was created 0755 and the SQLite files 0644: now nothing in it is
    /// readable by group or others.
    @Test func theDataFolderIsPrivate() async throws {
        let gateway = try GatewayProcess()
        let base = gateway.base
        _ = try await TestSupport.onThread { try TestSupport.run("/usr/bin/env", ["curl", "-s", "\(base)/healthz"]) }
        gateway.stop()
        let data = gateway.dataDir
        func mode(_ path: String) -> Int { ((try? FileManager.default.attributesOfItem(atPath: path))?[.posixPermissions] as? Int) ?? -1 }
        #expect(mode(data) == 0o700)
        let entries = try FileManager.default.subpathsOfDirectory(atPath: data)
        #expect(entries.contains("gateway.sqlite") && entries.contains("secret.key") && entries.contains("admin-token"))
        for entry in entries {
            #expect(mode("\(data)/\(entry)") & 0o077 == 0, "\(entry) is mode \(String(mode("\(data)/\(entry)"), radix: 8))")
        }
    }
}
