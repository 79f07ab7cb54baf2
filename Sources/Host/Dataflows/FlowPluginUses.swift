import Foundation

extension PluginUseCheck {
    /// The plugin uses of dataflows: each flow's plugin source and plugin target, with the
    /// config it opens them with (checked by `GET /admin/plugins` and after a rescan).
    static func wanted(flows: [Dataflow]) -> [Wanted] {
        var wanted: [Wanted] = []
        for flow in flows {
            guard let plan = try? FlowPlan.parse(flow.config) else { continue }
            if case .plugin(let id, let config)? = plan.source {
                wanted.append(Wanted(use: "dataflow \(flow.id) source", plugin: id, kind: .source, config: config))
            }
            if case .plugin(let id, let config)? = plan.target {
                wanted.append(Wanted(use: "dataflow \(flow.id) target", plugin: id, kind: .sink, config: config))
            }
        }
        return wanted
    }
}
