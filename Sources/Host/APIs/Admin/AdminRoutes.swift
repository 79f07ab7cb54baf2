import Foundation
import Hummingbird

/// `GET /healthz`, and the administrator's routes under `/admin` (scope `admin`).
enum AdminRoutes {
    static func register(on router: Router<GatewayRequestContext>, styles: EnvelopeStyles, gateway: Gateway) {
        styles.register("/admin", .gateway)

        router.get("/healthz") { _, context -> Response in
            Envelope.success(.gateway, data: Health(status: "ok", plugins: gateway.registry.active.count), requestId: context.requestId)
        }

        let admin = router.group("/admin").add(middleware: RequireScope(scope: "admin", tokens: gateway.tokens))
        admin.get("/plugins") { _, context -> Response in
            Envelope.success(.gateway, data: PluginInfo.list(gateway.registry), requestId: context.requestId)
        }
        admin.post("/plugins/rescan") { _, context -> Response in
            let changes = gateway.registry.scan()
            return Envelope.success(.gateway, data: Rescan(changes: changes, plugins: PluginInfo.list(gateway.registry)),
                                    requestId: context.requestId)
        }
    }

    struct Health: Encodable { let status: String; let plugins: Int }
    struct Rescan: Encodable { let changes: [String]; let plugins: [PluginInfo] }
}

/// One row of `gateway plugins list` and `GET /admin/plugins`.
public struct PluginInfo: Codable, Sendable, Equatable {
    public let file: String
    public let status: String
    public let reason: String?
    public let id: String?
    public let version: String?
    public let kinds: [String]?
    public let description: String?
    public let abi: String?
    public let media_type: String?
    public let format_name: String?
    public let exporter_name: String?
    public let file_extension: String?

    public static func list(_ registry: PluginRegistry) -> [PluginInfo] {
        registry.all.map { entry in
            switch entry.status {
            case .active(let p): info(entry.path, "active", nil, p)
            case .replaced(let p): info(entry.path, "replaced", "a newer copy of the file is active; running work finishes on this one", p)
            case .refused(let reason): info(entry.path, "refused", reason, nil)
            }
        }
    }

    private static func info(_ file: String, _ status: String, _ reason: String?, _ p: LoadedPlugin?) -> PluginInfo {
        PluginInfo(file: file, status: status, reason: reason, id: p?.id, version: p?.version,
                   kinds: p?.kinds.map(\.rawValue), description: p?.description, abi: p.map { "1.\($0.abiMinor)" },
                   media_type: p?.mediaType, format_name: p?.formatName, exporter_name: p?.exporterName,
                   file_extension: p?.fileExtension)
    }
}
