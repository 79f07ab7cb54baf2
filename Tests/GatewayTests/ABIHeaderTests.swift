import Foundation
import Testing
@testable import Host

/// The header is the contract: its bytes may only change together with its version.
@Suite struct ABIHeaderTests {
    static let header = TestSupport.packageRoot.appendingPathComponent("Sources/PluginABI/include/gateway_plugin.h").path
    static let record = "\(TestSupport.fixtures)/abi-header.sha256"

    @Test func headerMatchesItsRecordedVersionAndHash() throws {
        let bytes = try #require(FileManager.default.contents(atPath: Self.header))
        let text = String(decoding: bytes, as: UTF8.self)
        let major = try #require(Self.define("GW_ABI_MAJOR", in: text))
        let minor = try #require(Self.define("GW_ABI_MINOR", in: text))
        let hash = Crypto.hex(Crypto.sha256(Array(bytes)))
        let recorded = try String(contentsOfFile: Self.record, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let current = "\(major).\(minor) \(hash)"
        #expect(recorded == current, """
            gateway_plugin.h changed. If the ABI changed, bump GW_ABI_MINOR (additions at the end of a table) \
            or GW_ABI_MAJOR (anything else), then write "\(current)" into \(Self.record).
            """)
        #expect(recorded.hasPrefix("\(major).\(minor) "), "the header's version and the recorded version differ")
    }

    @Test func hostAndHeaderAgreeOnTheVersion() throws {
        let text = try String(contentsOfFile: Self.header, encoding: .utf8)
        #expect(PluginLoader.abiText == "\(Self.define("GW_ABI_MAJOR", in: text)!).\(Self.define("GW_ABI_MINOR", in: text)!)")
        #expect(PluginLoader.entrySymbol == "gw_plugin_init_v\(Self.define("GW_ABI_MAJOR", in: text)!)")
    }

    static func define(_ name: String, in text: String) -> Int? {
        for line in text.split(separator: "\n") where line.hasPrefix("#define \(name) ") {
            return Int(line.split(separator: " ").last ?? "")
        }
        return nil
    }
}
