import Foundation
@testable import Host
import PluginKit

/// A dataflow's body as add-dataflow reads it: the fields, the config (transforms, cron
/// schedule, numbers, declared params), the en_name made from the name, an execute's params;
/// and a schedule's next times.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    if let body = try? OrderedJSON.parse(bytes) {
        if let name = body["name"]?.string { _ = EnglishName.make(name) }
        if let text = try? DataFlowRoutes.config(body),
            let plan = try? FlowPlan.parse(text), let schedule = plan.schedule
        {
            var t = Date(timeIntervalSince1970: 1_763_683_200)
            for _ in 0..<3 { guard let next = schedule.next(after: t) else { break }; t = next }
            _ = plan.transforms.map { $0.make() }
        }
        _ = try? DataFlowRoutes.ids(body, "children_ids")
        // An execute's params, against the flow's declared ones (or none): read, checked,
        // turned into parameter values; never a trap.
        if let params = body["params"], case .object = params {
            let declared = (try? DataFlowRoutes.config(body)).flatMap { try? FlowPlan.parse($0) }?.declaredParams
            for spec in [declared, nil] {
                if let run = try? RunParams(json: params.compactText, declared: spec) {
                    _ = run.parameterValues
                    _ = run.unused(accepted: ["a"])
                }
            }
        }
    }
    // The same bytes as a bare cron expression.
    let text = String(decoding: bytes, as: UTF8.self)
    if let schedule = try? CronSchedule(text, timeZone: TimeZone(identifier: "Asia/Shanghai") ?? .current) {
        _ = schedule.next(after: Date(timeIntervalSince1970: 1_763_683_200))
    }
    return 0
}
