import Foundation
import PluginKit
import Testing
@testable import Host

/// `gateway plugins verify`: the Swift PluginKit plugin and the C fixture pass, a bad
/// plugin fails with a non-zero exit.
@Suite struct VerifyTests {
    @Test func swiftPluginKitPluginPassesVerify() throws {
        let gateway = try TestSupport.gateway()
        let checks = PluginVerifier(services: gateway.services, scratchDirectory: gateway.dataDirectory)
            .verify(path: try TestSupport.product("libSequenceSource.so"))
        #expect(checks.allSatisfy { $0.passed }, "\(checks)")
        #expect(checks.contains { $0.name == "source reads its example config" && $0.detail.contains("25 rows") })
    }

    @Test func commandLineVerifyExitCodes() throws {
        let gatewayBinary = try TestSupport.product("gateway")
        let work = TestSupport.temporaryDirectory("verify")
        let good = try TestSupport.run(gatewayBinary, ["plugins", "verify", "--data-dir", work, try TestSupport.product("libSequenceSource.so")])
        #expect(good.status == 0, "\(good.output)")
        #expect(good.output.contains("6 passed, 0 failed"))

        let cFixture = try TestSupport.compilePlugin(source: "\(TestSupport.fixtures)/fixture_plugin.c", output: "\(work)/good.so")
        let c = try TestSupport.run(gatewayBinary, ["plugins", "verify", "--data-dir", work, cFixture])
        #expect(c.status == 0, "\(c.output)")
        #expect(c.output.contains("PASS source refuses config of the wrong shape: open({}) refused with invalid config: config must be"), "\(c.output)")

        // `plugins list` shows each configured use of a plugin with its status.
        let configFile = "\(work)/gateway.json"
        try #"{"datasources": {"ten": {"plugin": "fixture.good", "config": {"rows": 10}}, "bad": {"plugin": "fixture.good", "config": {"rows": -1}}}}"#
            .write(toFile: configFile, atomically: true, encoding: .utf8)
        let listed = try TestSupport.run(gatewayBinary, ["plugins", "list", "--config", configFile, "--plugin-dir", work])
        #expect(listed.output.contains("    datasources.ten (source): ok\n"), "\(listed.output)")
        #expect(
            listed.output.contains("    datasources.bad (source): invalid: source open refused the config: config must be {\"rows\": N} with N >= 0\n"),
            "\(listed.output)")

        let broken = try TestSupport.compilePlugin(
            source: "\(TestSupport.fixtures)/fixture_plugin.c", output: "\(work)/fails.so",
            defines: ["FIXTURE_INIT_FAILS"])
        let bad = try TestSupport.run(gatewayBinary, ["plugins", "verify", "--data-dir", work, broken])
        #expect(bad.status != 0)
        #expect(bad.output.contains("FAIL load: init failed: license file /etc/fixture.lic not found"))
    }

    /// verify runs the checks in a child process: a plugin that crashes (verify itself died
    /// with it, printing nothing) or hangs (verify hung) is a failed check naming the signal
    /// or the silence, and the call it happened in; the command exits 1 on its own.
    @Test func verifySurvivesAPluginThatCrashesOrHangs() throws {
        let work = TestSupport.temporaryDirectory("verify-worker")
        let gatewayBinary = try TestSupport.product("gateway")
        let crashing = try TestSupport.compilePlugin(
            source: "\(TestSupport.fixtures)/fixture_plugin.c", output: "\(work)/crash.so", defines: ["FIXTURE_INIT_CRASHES"])
        let crashed = try TestSupport.run(gatewayBinary, ["plugins", "verify", "--data-dir", work, crashing])
        #expect(crashed.status == 1, "\(crashed.output)")
        #expect(crashed.output.contains("FAIL load: the plugin crashed the checking process (signal 11"), "\(crashed.output)")
        let hanging = try TestSupport.compilePlugin(
            source: "\(TestSupport.fixtures)/fixture_plugin.c", output: "\(work)/hang.so", defines: ["FIXTURE_HANG_IN_NEXT"])
        let hung = try TestSupport.run(gatewayBinary, ["plugins", "verify", "--data-dir", work, "--timeout", "2", hanging])
        #expect(hung.status == 1, "\(hung.output)")
        // The checks before the hang are reported as they passed; then the one that hung.
        #expect(hung.output.contains("PASS source refuses config that is not JSON"), "\(hung.output)")
        #expect(
            hung.output.contains("FAIL source reads its example config: no answer in 2 s (the plugin hangs, or ignores cancel)"), "\(hung.output)")
    }

    @Test func commandLineListShowsPluginsAndRefusals() throws {
        let dir = TestSupport.temporaryDirectory("fixtures")
        try PluginLoadingTests.buildFixtures(into: dir)
        let work = TestSupport.temporaryDirectory("list")
        let result = try TestSupport.run(try TestSupport.product("gateway"), ["plugins", "list", "--data-dir", work, "--plugin-dir", dir])
        #expect(result.status == 0)
        #expect(result.output.contains("fixture.good 1.0.0 [source] active \(dir)/a_good.so"))
        #expect(result.output.contains("- refused \(dir)/e_init_fails.so: init failed: license file /etc/fixture.lic not found"))
    }

    @Test func formatConformanceUsesEveryABIType() throws {
        let batch = try ConformanceData.batch(rows: 3)
        #expect(batch.fields.map(\.type) == ArrowType.allABITypes)
        #expect(batch.rowCount == 3)
        #expect(batch.columns.allSatisfy { $0.nullCount >= 1 })
    }
}
