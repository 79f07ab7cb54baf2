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
