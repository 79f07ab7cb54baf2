import Foundation
import Glibc
import PluginABI
import PluginKit

/// A plugin image that loaded and passed every check: its descriptor, read once.
///
/// @unchecked Sendable: it holds pointers into the plugin image (descriptor, vtables),
/// which the ABI makes immutable and valid for the life of the process (never unloaded).
public struct LoadedPlugin: @unchecked Sendable {
    public enum Kind: String, Sendable, CaseIterable {
        case source, format, exporter, sink
    }

    public let path: String
    /// Where the image was really loaded from: `path`, or a private copy when the file had
    /// changed after an earlier load.
    public let loadedFrom: String
    public let id: String
    public let version: String
    public let description: String
    public let kinds: [Kind]
    public let abiMinor: Int
    public let configSchema: String
    public let exampleConfig: String?
    public let formatName: String?
    public let mediaType: String?
    public let exporterName: String?
    public let fileExtension: String?
    public let sourceFileExtensions: [String]

    let handle: UnsafeMutableRawPointer
    let source: UnsafePointer<gw_source_vtable>?
    /// The plugin's format table, copied up to the size it declares (a 1.0–1.2 table ends
    /// before `write_error`, which stays NULL here): read from this copy, never past the
    /// plugin's own table.
    let format: gw_format_vtable?
    let exporter: UnsafePointer<gw_exporter_vtable>?
    let sink: UnsafePointer<gw_sink_vtable>?
}

/// Why a file is not a usable plugin, in one line.
public struct PluginRefusal: Error, CustomStringConvertible, Sendable, Equatable {
    public let reason: String
    public var description: String { reason }
    init(_ reason: String) { self.reason = reason }
}

/// Loads one plugin file: dlopen, the versioned entry symbol, init, and every check on
/// the descriptor. Never unloads (Swift images cannot be unloaded safely).
enum PluginLoader {
    static let entrySymbol = "gw_plugin_init_v\(GW_ABI_MAJOR)"
    static let abiText = "\(GW_ABI_MAJOR).\(GW_ABI_MINOR)"

    static func load(path: String, loadFrom: String? = nil) -> Result<LoadedPlugin, PluginRefusal> {
        let file = loadFrom ?? path
        // The loader trusts the file: one cut short kills the process (see ELFCheck).
        do {
            try ELFCheck.check(path: file)
        } catch {
            return .failure(PluginRefusal("the file \(error)"))
        }
        guard let handle = dlopen(file, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE) else {
            let message = dlerror().map { String(cString: $0) } ?? "unknown error"
            return .failure(PluginRefusal("cannot be loaded: \(message)"))
        }
        guard let entry = dlsym(handle, entrySymbol) else {
            return .failure(missingEntryRefusal(handle))
        }
        let initialize = unsafeBitCast(entry, to: gw_plugin_init_fn.self)
        var err = gw_error()
        guard let descriptor = initialize(HostServiceTable.shared.value, &err) else {
            let message = readError(&err)
            return .failure(PluginRefusal("init failed: \(message.isEmpty ? "(the plugin gave no reason)" : message)"))
        }
        return DescriptorCheck.read(descriptor, handle: handle, path: path, loadedFrom: file)
    }

    /// No v1 entry: tell a plugin of another major version from a file that is no plugin.
    private static func missingEntryRefusal(_ handle: UnsafeMutableRawPointer) -> PluginRefusal {
        for major in 0...9 where major != Int(GW_ABI_MAJOR) {
            if dlsym(handle, "gw_plugin_init_v\(major)") != nil {
                return PluginRefusal(
                    "ABI major mismatch: the plugin exports gw_plugin_init_v\(major) (ABI \(major).x), this gateway speaks ABI \(abiText)")
            }
        }
        return PluginRefusal("not a gateway plugin: no \(entrySymbol) symbol")
    }
}

/// Reads and validates a descriptor; every refusal names the field that is wrong.
enum DescriptorCheck {
    /// Size of a 1.0 descriptor: a plugin's struct_size can never be smaller.
    static let minimumSize = MemoryLayout<gw_plugin_descriptor>.offset(of: \.exporter)! + MemoryLayout<UnsafeRawPointer>.size

    /// 1 to 64 of [a-z0-9._-], starting with a letter or digit.
    static func isValidId(_ id: String) -> Bool {
        guard (1...64).contains(id.utf8.count), let first = id.utf8.first, isLowerAlnum(first) else { return false }
        return id.utf8.allSatisfy { isLowerAlnum($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-") }
    }

    private static func isLowerAlnum(_ c: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(c) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(c)
    }

    static func read(
        _ descriptor: UnsafePointer<gw_plugin_descriptor>, handle: UnsafeMutableRawPointer, path: String, loadedFrom: String
    ) -> Result<LoadedPlugin, PluginRefusal> {
        // An older plugin's descriptor is shorter: copy only the bytes it says it has, the
        // fields it does not know stay zero (NULL).
        let declared = Int(UnsafeRawPointer(descriptor).load(fromByteOffset: 0, as: UInt32.self))
        var d = gw_plugin_descriptor()
        withUnsafeMutableBytes(of: &d) { $0.copyMemory(from: UnsafeRawBufferPointer(start: descriptor, count: min(declared, $0.count))) }
        if Int(d.abi_major) != Int(GW_ABI_MAJOR) {
            return .failure(
                PluginRefusal(
                    "ABI major mismatch: the plugin was built for ABI \(d.abi_major).\(d.abi_minor), this gateway speaks ABI \(PluginLoader.abiText)"))
        }
        if Int(d.abi_minor) > Int(GW_ABI_MINOR) {
            return .failure(
                PluginRefusal(
                    "built for ABI \(d.abi_major).\(d.abi_minor), newer than this gateway's \(PluginLoader.abiText): upgrade the gateway or rebuild the plugin against ABI \(PluginLoader.abiText)"
                ))
        }
        guard Int(d.struct_size) >= minimumSize else {
            return .failure(PluginRefusal("invalid descriptor: struct_size \(d.struct_size) is smaller than ABI 1.0's \(minimumSize)"))
        }
        do {
            return .success(try validated(d, handle: handle, path: path, loadedFrom: loadedFrom))
        } catch {
            return .failure(PluginRefusal("invalid descriptor: \(error)"))
        }
    }

    private static func text(_ p: UnsafePointer<CChar>?, _ field: String, required: Bool = true) throws -> String? {
        guard let p else {
            if required { throw InvalidInput("\(field) is missing") }
            return nil
        }
        let s = String(cString: p)
        if required && s.isEmpty { throw InvalidInput("\(field) is empty") }
        return s
    }

    private static func validated(
        _ d: gw_plugin_descriptor, handle: UnsafeMutableRawPointer, path: String, loadedFrom: String
    ) throws -> LoadedPlugin {
        let id = try text(d.id, "id")!
        guard isValidId(id) else {
            throw InvalidInput("id '\(id)' must be 1 to 64 of [a-z0-9._-], starting with a letter or digit")
        }
        let version = try text(d.version, "version")!
        let description = try text(d.description, "description", required: false) ?? ""
        let unknown = d.kinds & ~(GW_KIND_SOURCE | GW_KIND_FORMAT | GW_KIND_EXPORTER | GW_KIND_SINK)
        guard unknown == 0 else { throw InvalidInput("kinds has unknown bits 0x\(String(unknown, radix: 16))") }
        guard d.kinds != 0 else { throw InvalidInput("kinds is empty: declare at least one of source, format, exporter, sink") }
        let schema = try text(d.config_schema_json, "config_schema_json")!
        try checkSchema(schema)
        let example = try text(d.example_config_json, "example_config_json", required: false)
        if let example, (try? JSONSerialization.jsonObject(with: Data(example.utf8))) as? [String: Any] == nil {
            throw InvalidInput("example_config_json is not a JSON object")
        }

        var kinds: [LoadedPlugin.Kind] = []
        var sourceExtensions: [String] = []
        if d.kinds & GW_KIND_SOURCE != 0 {
            guard let s = d.source else { throw InvalidInput("kind source is declared but the source table is NULL") }
            try requireTable(Int(s.pointee.struct_size), MemoryLayout<gw_source_vtable>.size, "source")
            guard s.pointee.open != nil, s.pointee.read != nil, s.pointee.finish != nil, s.pointee.close != nil else {
                throw InvalidInput("source table lacks open, read, finish or close")
            }
            sourceExtensions = (try text(s.pointee.file_extensions, "source.file_extensions", required: false) ?? "")
                .split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }.filter { !$0.isEmpty }
            kinds.append(.source)
        }
        var formatName: String?, mediaType: String?
        if d.kinds & GW_KIND_FORMAT != 0 {
            guard let f = d.format else { throw InvalidInput("kind format is declared but the format table is NULL") }
            try requireTable(Int(f.pointee.struct_size), formatSize10, "format")
            formatName = try text(f.pointee.name, "format.name")
            // `format=json` is the gateway's own writer: a plugin's format of that name could
            // never be chosen, and would load to no effect.
            guard formatName?.lowercased() != "json" else {
                throw InvalidInput(
                    "format.name 'json' is the gateway's built-in JSON writer: a plugin's format by that name could never be chosen; give it another name")
            }
            mediaType = try text(f.pointee.media_type, "format.media_type")
            guard mediaType!.contains("/") else { throw InvalidInput("format.media_type '\(mediaType!)' is not a media type") }
            guard f.pointee.open != nil, f.pointee.begin != nil, f.pointee.write_batch != nil,
                f.pointee.finish != nil, f.pointee.close != nil
            else { throw InvalidInput("format table lacks open, begin, write_batch, finish or close") }
            kinds.append(.format)
        }
        var exporterName: String?, fileExtension: String?
        if d.kinds & GW_KIND_EXPORTER != 0 {
            guard let e = d.exporter else { throw InvalidInput("kind exporter is declared but the exporter table is NULL") }
            try requireTable(Int(e.pointee.struct_size), MemoryLayout<gw_exporter_vtable>.size, "exporter")
            exporterName = try text(e.pointee.name, "exporter.name")
            guard exporterName?.uppercased() != "CSV" else {
                throw InvalidInput(
                    "exporter.name 'CSV' is the gateway's built-in CSV export: a plugin's exporter by that name could never be chosen; give it another name")
            }
            fileExtension = try text(e.pointee.file_extension, "exporter.file_extension")
            guard (1...16).contains(fileExtension!.count), fileExtension!.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) }) else {
                throw InvalidInput("exporter.file_extension '\(fileExtension!)' must be letters and digits, without a dot")
            }
            guard e.pointee.open != nil, e.pointee.begin != nil, e.pointee.write_batch != nil,
                e.pointee.finish != nil, e.pointee.close != nil
            else { throw InvalidInput("exporter table lacks open, begin, write_batch, finish or close") }
            kinds.append(.exporter)
        }
        if d.kinds & GW_KIND_SINK != 0 {
            guard d.abi_minor >= 2, let t = d.sink else {
                throw InvalidInput("kind sink is declared but the sink table is NULL (or the plugin was built for ABI 1.\(d.abi_minor), which has none)")
            }
            try requireTable(Int(t.pointee.struct_size), MemoryLayout<gw_sink_vtable>.size, "sink", since: "1.2")
            guard t.pointee.open != nil, t.pointee.begin != nil, t.pointee.write_batch != nil, t.pointee.commit != nil,
                t.pointee.abort != nil, t.pointee.close != nil
            else { throw InvalidInput("sink table lacks open, begin, write_batch, commit, abort or close") }
            kinds.append(.sink)
        }
        return LoadedPlugin(
            path: path, loadedFrom: loadedFrom, id: id, version: version, description: description, kinds: kinds,
            abiMinor: Int(d.abi_minor), configSchema: schema, exampleConfig: example,
            formatName: formatName, mediaType: mediaType, exporterName: exporterName, fileExtension: fileExtension,
            sourceFileExtensions: sourceExtensions, handle: handle,
            source: d.kinds & GW_KIND_SOURCE != 0 ? d.source : nil,
            format: d.kinds & GW_KIND_FORMAT != 0 ? d.format.map(Self.copy) : nil,
            exporter: d.kinds & GW_KIND_EXPORTER != 0 ? d.exporter : nil,
            sink: d.kinds & GW_KIND_SINK != 0 ? d.sink : nil)
    }

    /// A format table of ABI 1.0 ends after `close`.
    static let formatSize10 = MemoryLayout<gw_format_vtable>.offset(of: \.write_error)!

    /// `table` copied up to its declared size; what it does not have stays zero (NULL).
    private static func copy(_ table: UnsafePointer<gw_format_vtable>) -> gw_format_vtable {
        var copy = gw_format_vtable()
        let declared = Int(table.pointee.struct_size)
        withUnsafeMutableBytes(of: &copy) { $0.copyMemory(from: UnsafeRawBufferPointer(start: table, count: min(declared, $0.count))) }
        return copy
    }

    private static func requireTable(_ size: Int, _ expected: Int, _ name: String, since: String = "1.0") throws {
        guard size >= expected else {
            throw InvalidInput("\(name) table struct_size \(size) is smaller than ABI \(since)'s \(expected)")
        }
    }

    /// The config schema must be a JSON Schema for an object.
    static func checkSchema(_ schema: String) throws {
        guard let object = (try? JSONSerialization.jsonObject(with: Data(schema.utf8))) as? [String: Any] else {
            throw InvalidInput("config_schema_json is not a JSON object")
        }
        guard object["type"] as? String == "object" else {
            throw InvalidInput("config_schema_json must describe an object (\"type\": \"object\")")
        }
        if let properties = object["properties"], !(properties is [String: Any]) {
            throw InvalidInput("config_schema_json: \"properties\" must be an object")
        }
    }
}
