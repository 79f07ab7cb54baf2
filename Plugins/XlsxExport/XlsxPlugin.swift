// xlsx: writes .xlsx workbooks (the exporter behind ext_type XLSX) and reads the first
// sheet of uploaded ones (a source), within limits that make hostile files fail with a
// clear reason: zip bombs, oversized parts, huge shared-string tables, DTDs, broken XML.
import PluginABI
import PluginKit

@_cdecl("gw_plugin_init_v1")
public func xlsxPluginInit(
    _ host: UnsafePointer<gw_host_api>?, _ err: UnsafeMutablePointer<gw_error>?
) -> UnsafePointer<gw_plugin_descriptor>? {
    PluginExport.initialize(host, err) {
        PluginDefinition(
            id: "xlsx", version: "1.0.0",
            description: "Writes .xlsx workbooks; reads the first sheet of uploaded ones.",
            configSchema: """
                {"type":"object","properties":{
                  "max_entry_bytes":{"type":"integer","minimum":1,"default":268435456,"description":"largest part inflated"},
                  "max_shared_strings_bytes":{"type":"integer","minimum":1,"default":67108864},
                  "max_ratio":{"type":"integer","minimum":1,"default":200,"description":"largest expansion of a part over 1 MB"},
                  "batch_size":{"type":"integer","minimum":1,"default":65536},
                  "max_rows_per_file":{"type":"integer","minimum":2,"maximum":1048576,"default":1048576,"description":"exporter: rows per workbook, header included"},
                  "compression_level":{"type":"integer","minimum":0,"maximum":9,"default":1,"description":"exporter: zlib level of the sheet"},
                  "sheet_name":{"type":"string","default":"Sheet1"}}}
                """,
            exampleConfig: "{}",
            source: XlsxFileSource.self, sourceFileExtensions: "xlsx,xlsm",
            exporter: .init(XlsxFileExporter.self, name: "XLSX", fileExtension: "xlsx"))
    }
}
