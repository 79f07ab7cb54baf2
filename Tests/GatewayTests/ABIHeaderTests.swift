import Foundation
import Testing
@testable import Host

/// The header is the contract: its tables only ever grow at their end, and a table that
/// grows comes with a new minor version and a frozen copy of the header
/// (scripts/check-abi.py, against sdk/abi-history/).
@Suite struct ABIHeaderTests {
    static let header = TestSupport.packageRoot.appendingPathComponent("Sources/PluginABI/include/gateway_plugin.h").path
    static let script = TestSupport.packageRoot.appendingPathComponent("scripts/check-abi.py").path
    static let history = TestSupport.packageRoot.appendingPathComponent("sdk/abi-history").path

    static func check(_ arguments: [String] = []) throws -> TestSupport.ProcessResult {
        try TestSupport.run("/usr/bin/env", ["python3", script] + arguments)
    }

    @Test func everyReleasedTableIsAPrefixOfTodays() throws {
        let result = try Self.check()
        #expect(result.status == 0 && result.output.hasPrefix("ABI 1.3: 4 released versions"), "\(result.output)")
    }

    /// A member added, removed or moved without a new version is caught; comments are not.
    @Test func aTableChangedWithoutANewVersionIsCaught() throws {
        let text = try String(contentsOfFile: Self.header, encoding: .utf8)
        let dir = TestSupport.temporaryDirectory("abi")
        let cases = [
            ("grown", text.replacingOccurrences(of: "} gw_sink_vtable;", with: "  int extra;\n} gw_sink_vtable;")),
            (
                "moved",
                text.replacingOccurrences(
                    of: "  void (*close)(void *instance);\n  /* ---- ABI 1.3 ---- */\n  gw_status (*write_error)",
                    with: "  /* ---- ABI 1.3 ---- */\n  gw_status (*write_error)")
            ),
        ]
        for (name, changed) in cases {
            #expect(changed != text, "\(name): the edit did not apply")
            try changed.write(toFile: "\(dir)/\(name).h", atomically: true, encoding: .utf8)
            let result = try Self.check(["\(dir)/\(name).h"])
            #expect(result.status == 1 && result.output.contains("a table that changes needs GW_ABI_MINOR 4"), "\(name): \(result.output)")
        }
        let commented = text.replacingOccurrences(of: "/* ---- ABI 1.3 ---- */", with: "/* ---- ABI 1.3 (a new comment) ---- */")
        try commented.write(toFile: "\(dir)/commented.h", atomically: true, encoding: .utf8)
        #expect(try Self.check(["\(dir)/commented.h"]).status == 0)
    }

    /// A released version's table changed in a later one (a member retyped) is caught.
    @Test func aReleasedTableChangedLaterIsCaught() throws {
        let dir = TestSupport.temporaryDirectory("abi-history")
        for minor in 0...3 {
            try FileManager.default.copyItem(atPath: "\(Self.history)/gateway_plugin-1.\(minor).h", toPath: "\(dir)/gateway_plugin-1.\(minor).h")
        }
        let path = "\(dir)/gateway_plugin-1.2.h"
        let retyped = try String(contentsOfFile: path, encoding: .utf8).replacingOccurrences(of: "  uint32_t kinds;", with: "  uint64_t kinds;")
        try retyped.write(toFile: path, atomically: true, encoding: .utf8)
        let result = try Self.check([Self.header, dir])
        #expect(result.status == 1 && result.output.contains("struct gw_plugin_descriptor: 1.1's member"), "\(result.output)")
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
