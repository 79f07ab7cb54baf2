// xlsx: reads the first sheet of .xlsx workbooks (a source for uploads), within limits
// that make hostile files fail with a clear reason: zip bombs, oversized parts, huge
// shared-string tables, DTDs, broken XML.
import PluginABI
import PluginKit

@_cdecl("gw_plugin_init_v1")
public func xlsxPluginInit(
    _ host: UnsafePointer<gw_host_api>?, _ err: UnsafeMutablePointer<gw_error>?
) -> UnsafePointer<gw_plugin_descriptor>? {
    PluginExport.initialize(host, err) {
        PluginDefinition(
            id: "xlsx", version: "1.0.0",
            description: "Reads .xlsx workbooks (first sheet, first row the header).",
            configSchema: """
                {"type":"object","properties":{
                  "max_entry_bytes":{"type":"integer","minimum":1,"default":268435456,"description":"largest part inflated"},
                  "max_shared_strings_bytes":{"type":"integer","minimum":1,"default":67108864},
                  "max_ratio":{"type":"integer","minimum":1,"default":200,"description":"largest expansion of a part over 1 MB"},
                  "batch_size":{"type":"integer","minimum":1,"default":65536}}}
                """,
            exampleConfig: "{}",
            source: XlsxFileSource.self, sourceFileExtensions: "xlsx,xlsm")
    }
}
