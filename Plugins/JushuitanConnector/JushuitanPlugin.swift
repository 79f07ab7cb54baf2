// jushuitan: a source for the Jushuitan (聚水潭) open platform. Orders (one row per order or
// per item) over modification windows of at most 7 days, or any other paginated API described
// by configuration; tokens refreshed and kept in shared state, both rate limits paced per app
// key across instances, cursors committed only when the rows were delivered.
import PluginABI
import PluginKit

@_cdecl("gw_plugin_init_v1")
public func jushuitanPluginInit(
    _ host: UnsafePointer<gw_host_api>?, _ err: UnsafeMutablePointer<gw_error>?
) -> UnsafePointer<gw_plugin_descriptor>? {
    PluginExport.initialize(host, err, requiringMinor: 1, because: "shared locks, state and pacing") {
        PluginDefinition(
            id: "jushuitan", version: "1.0.0",
            description: "Jushuitan (聚水潭) open platform: orders and other paginated APIs, with token refresh and rate-limit pacing.",
            configSchema: """
                {"type":"object","required":["app_key","app_secret","access_token","refresh_token"],"properties":{
                  "base_url":{"type":"string","default":"https://openapi.jushuitan.com","description":"sandbox: https://dev-api.jushuitan.com"},
                  "app_key":{"type":"string"},
                  "app_secret":{"type":"string","secret":true},
                  "access_token":{"type":"string","secret":true,"description":"the first access token; refreshed ones are kept in the gateway's state"},
                  "refresh_token":{"type":"string","secret":true},
                  "stream":{"type":"string","enum":["orders","endpoint"],"default":"orders"},
                  "orders":{"type":"object","required":["start"],"properties":{
                    "start":{"type":"string","description":"YYYY-MM-DD HH:MM:SS (UTC+8), used until a cursor is saved"},
                    "end":{"type":"string","description":"default: now minus lag_seconds"},"items":{"type":"boolean","default":false},
                    "lag_seconds":{"type":"integer","minimum":0,"maximum":86400,"default":60},
                    "page_size":{"type":"integer","minimum":1,"maximum":100,"default":50}}},
                  "endpoint":{"type":"object","required":["api","number"],"properties":{
                    "api":{"type":"string"},"method":{"type":"string"},"number":{"type":"string"},"id":{"type":"string"},
                    "pagination":{"type":"object","properties":{"pageSize":{"type":"integer"}}},"idCheck":{"type":"boolean"},
                    "biz":{"type":"object"}}},
                  "fields":{"type":"object","properties":{
                    "rename":{"type":"object"},"select":{"type":"array","items":{"type":"string"}},
                    "types":{"type":"object"},"unknown":{"type":"string","enum":["string","drop"],"default":"string"}}},
                  "per_second":{"type":"integer","default":5},"per_minute":{"type":"integer","default":100}}}
                """,
            source: JushuitanSource.self)
    }
}
