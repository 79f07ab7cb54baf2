import Foundation
import Testing
@testable import Host

@Suite struct ConfigTests {
    @Test func defaultsNeedNoFile() throws {
        let config = try GatewayConfig.load(file: nil, environment: [:])
        #expect(config.server.host == "127.0.0.1" && config.server.port == 8080)
        // No outbound host by default, loopback included: allowing one is the administrator's choice.
        #expect(config.http.allowHosts == [])
    }

    /// Numbers out of range, and ids that contain a scope's separators, are refused at start.
    @Test func outOfRangeNumbersAndBadIdsAreRefused() throws {
        #expect(throws: InvalidInput("configuration: auth.signedTokenWindowSeconds must be 1 to 31622400, not 9300000000000000")) {
            try GatewayConfig.load(file: nil, environment: ["GATEWAY_AUTH_SIGNED_TOKEN_WINDOW_SECONDS": "9300000000000000"])
        }
        #expect(throws: InvalidInput("configuration: exports.retentionDays must be 0 to 36500, not -1")) {
            try GatewayConfig.load(file: nil, environment: ["GATEWAY_EXPORTS_RETENTION_DAYS": "-1"])
        }
        let file = TestSupport.temporaryDirectory("cfg") + "/gateway.json"
        try #"{"datasources": {"sales:private": {"plugin": "x"}}}"#.write(toFile: file, atomically: true, encoding: .utf8)
        #expect(throws: InvalidInput("datasource id 'sales:private' must not contain ':', '/', '*' or spaces")) {
            try GatewayConfig.load(file: file, environment: [:])
        }
    }

    /// Listing plugin folders keeps the built-in one (the shipped plugins) first; only
    /// `plugins.builtin: false` leaves it out, and a listed copy of it is not scanned twice.
    @Test func listedPluginFoldersKeepTheBuiltInOne() throws {
        let builtin = GatewayConfig.builtinPluginDirectory
        let listed = try GatewayConfig.load(file: nil, environment: ["GATEWAY_PLUGINS_DIRECTORIES": "/opt/p,\(builtin)"])
        #expect(listed.pluginDirectories == [builtin, "/opt/p"])
        let none = try GatewayConfig.load(file: nil, environment: [:])
        #expect(none.pluginDirectories == [builtin, FileManager.default.currentDirectoryPath + "/plugins"])
        let excluded = try GatewayConfig.load(file: nil, environment: ["GATEWAY_PLUGINS_DIRECTORIES": "/opt/p", "GATEWAY_PLUGINS_BUILTIN": "false"])
        #expect(excluded.pluginDirectories == ["/opt/p"])
    }

    @Test func fileThenEnvironmentOverride() throws {
        let file = TestSupport.temporaryDirectory("cfg") + "/gateway.json"
        try #"{"server": {"port": 9000}, "auth": {"signedKeys": {"alice": "k1"}}, "plugins": {"directories": ["/opt/p"]}}"#
            .write(toFile: file, atomically: true, encoding: .utf8)
        let config = try GatewayConfig.load(
            file: file,
            environment: [
                "GATEWAY_SERVER_HOST": "0.0.0.0", "GATEWAY_HTTP_ALLOW_HOSTS": "a.com, *.b.com", "GATEWAY_HTTP_MAX_CONCURRENT": "4",
            ])
        #expect(config.server.port == 9000 && config.server.host == "0.0.0.0")
        #expect(config.auth.signedKeys == ["alice": "k1"])
        #expect(config.plugins.directories == ["/opt/p"])
        #expect(config.http.allowHosts == ["a.com", "*.b.com"] && config.http.maxConcurrent == 4)
        #expect(try !config.redactedJSON().contains("k1"))
        let boolean = try GatewayConfig.load(file: nil, environment: ["GATEWAY_EXPORTS_REQUIRE_TOKEN": "false"])
        #expect(boolean.exports.requireToken == false)
    }

    @Test func typosAndWrongTypesAreRefused() throws {
        let file = TestSupport.temporaryDirectory("cfg") + "/gateway.json"
        try #"{"server": {"prot": 9000}}"#.write(toFile: file, atomically: true, encoding: .utf8)
        #expect(throws: InvalidInput("\(file): unknown setting 'server.prot'")) { try GatewayConfig.load(file: file, environment: [:]) }
        try #"{"server": {"port": "high"}}"#.write(toFile: file, atomically: true, encoding: .utf8)
        #expect(throws: InvalidInput.self) { try GatewayConfig.load(file: file, environment: [:]) }
        #expect(throws: InvalidInput("GATEWAY_SERVER_PORT must be a whole number")) {
            try GatewayConfig.load(file: nil, environment: ["GATEWAY_SERVER_PORT": "eighty"])
        }
    }
}
