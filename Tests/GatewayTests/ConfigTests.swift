import Foundation
import Testing
@testable import Host

@Suite struct ConfigTests {
    @Test func defaultsNeedNoFile() throws {
        let config = try GatewayConfig.load(file: nil, environment: [:])
        #expect(config.server.host == "127.0.0.1" && config.server.port == 8080)
        #expect(config.http.allowHosts == ["127.0.0.1", "localhost", "::1"])
    }

    @Test func fileThenEnvironmentOverride() throws {
        let file = TestSupport.temporaryDirectory("cfg") + "/gateway.json"
        try #"{"server": {"port": 9000}, "auth": {"signedKeys": {"alice": "k1"}}, "plugins": {"directories": ["/opt/p"]}}"#
            .write(toFile: file, atomically: true, encoding: .utf8)
        let config = try GatewayConfig.load(file: file, environment: [
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
