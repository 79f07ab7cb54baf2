import Foundation
import PluginKit

/// What a flow's `config` asks a run to do, read from the JSON object the client stored:
/// `source`, `transforms`, `target`, `schedule` (+ `timezone`), `batch_size`, `retry_count`,
/// `timeout`. A key that is malformed (a schedule that is not cron, an unknown transform)
/// is the client's 400 when the flow is saved. A key that names something this gateway
/// cannot run (seed 004's own `"type": "mysql"`) is stored as given: its runs fail with
/// `problems` as their error message, and never report success.
struct FlowPlan {
    enum Source: Equatable {
        /// A pushed dataset or named query, filtered by `params` as a query's `$column=value`.
        case dataset(String)
        /// A configured datasource (a source plugin with the administrator's config).
        /// A datasource, and the endpoint to read when it has several (`http.json`).
        case datasource(String, endpoint: String?)
        /// A source plugin with the flow's own config; its state (a cursor) is the flow's.
        case plugin(id: String, config: String)
        /// Read-only SQL over the datasets; `params` bind its `:name` parameters.
        case sql(String)
        /// A data model's query (JSON text); `params` fill the model's parameters. With a
        /// dataset target this materializes the model: the cached model of seed 001.
        case datamodel(id: String, query: String)
    }

    enum Target: Equatable {
        case dataset(String, mode: DatasetWriteMode)
        /// A file through an exporter plugin (XLSX) or the CSV writer, downloadable as seed 002's are.
        case export(format: String, title: String?)
        /// Another system, through a sink plugin (ABI 1.2) with the flow's own config.
        case plugin(id: String, config: String)
    }

    var source: Source?
    var transforms: [TransformSpec] = []
    var target: Target?
    var schedule: CronSchedule?
    var batchSize = 10_000
    var retryCount = 0
    /// Seconds; nil means no limit.
    var timeout: Int?
    /// `params`: the parameters an execute may give, when the flow declares them (strict);
    /// nil when it does not (see RunParams).
    var declaredParams: [String: RunParams.Declared]?
    /// Why a run of this config cannot succeed (empty when it can be tried).
    var problems: [String] = []

    static let sourceKinds = ["dataset", "datasource", "plugin", "sql", "datamodel"]
    static let targetKinds = ["dataset", "export", "plugin"]

    /// Parses a config; throws FlowInputError for a malformed one.
    static func parse(_ text: String, defaultTimeZone: TimeZone = .current) throws -> FlowPlan {
        guard let object = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] else {
            throw FlowInputError("config must be a JSON object")
        }
        return try parse(object, defaultTimeZone: defaultTimeZone)
    }

    static func parse(_ config: [String: Any], defaultTimeZone: TimeZone = .current) throws -> FlowPlan {
        var plan = FlowPlan()
        plan.source = try source(config["source"], problems: &plan.problems)
        plan.target = try target(config["target"], problems: &plan.problems)
        if let list = config["transforms"] {
            guard let items = list as? [Any] else { throw FlowInputError("config.transforms must be a list") }
            plan.transforms = try items.enumerated().map { try TransformSpec.parse($0.element, index: $0.offset) }
        }
        if let raw = config["schedule"] {
            var expression = raw as? String, zone = config["timezone"] as? String
            if let object = raw as? [String: Any] {
                expression = object["cron"] as? String
                zone = object["timezone"] as? String ?? zone
            }
            guard let expression else { throw FlowInputError("config.schedule must be a cron expression like \"0 2 * * *\"") }
            let timeZone =
                try zone.map { name in
                    guard let z = TimeZone(identifier: name) else { throw FlowInputError("config.timezone: unknown time zone '\(name)'") }
                    return z
                } ?? defaultTimeZone
            do {
                plan.schedule = try CronSchedule(expression, timeZone: timeZone)
            } catch let e as CronSchedule.Invalid {
                throw FlowInputError("config.schedule: \(e.description)")
            }
        }
        plan.batchSize = try integer(config["batch_size"], "batch_size", 1...1_000_000) ?? plan.batchSize
        plan.retryCount = try integer(config["retry_count"], "retry_count", 0...10) ?? 0
        plan.timeout = try integer(config["timeout"], "timeout", 1...86_400 * 7)
        plan.declaredParams = try declaredParams(config["params"])
        if plan.source == nil && plan.problems.isEmpty { plan.problems.append("config names no source") }
        if plan.target == nil && !plan.problems.contains(where: { $0.hasPrefix("target") }) {
            plan.problems.append("config names no target")
        }
        return plan
    }

    /// `"params": {"since": {"required": true}, "region": {"default": "east"}}`.
    private static func declaredParams(_ value: Any?) throws -> [String: RunParams.Declared]? {
        guard let value else { return nil }
        guard let object = value as? [String: Any] else {
            throw FlowInputError("config.params must be an object: each parameter an execute may give, e.g. {\"since\": {\"required\": true}}")
        }
        var declared: [String: RunParams.Declared] = [:]
        for (name, spec) in object {
            guard !name.isEmpty, name.count <= 128, !name.utf8.contains(0) else {
                throw FlowInputError("config.params: '\(name.prefix(40))' is not a parameter name")
            }
            guard let fields = spec as? [String: Any] else {
                throw FlowInputError("config.params.\(name) must be an object ({}, {\"required\": true} or {\"default\": …})")
            }
            if let unknown = fields.keys.first(where: { $0 != "required" && $0 != "default" }) {
                throw FlowInputError("config.params.\(name): unknown key '\(unknown)' (use required, default)")
            }
            var d = RunParams.Declared()
            if let required = fields["required"] {
                guard let flag = required as? NSNumber, String(cString: flag.objCType) == "c" else {
                    throw FlowInputError("config.params.\(name).required must be true or false")
                }
                d.required = flag.boolValue
            }
            if let value = fields["default"], !(value is NSNull) {
                d.defaultJSON = (try? JSONSerialization.data(withJSONObject: value, options: .fragmentsAllowed)).map { String(decoding: $0, as: UTF8.self) }
            }
            declared[name] = d
        }
        return declared
    }

    private static func integer(_ value: Any?, _ name: String, _ range: ClosedRange<Int>) throws -> Int? {
        guard let value else { return nil }
        guard let n = value as? NSNumber, String(cString: n.objCType) != "c", let i = Int(exactly: n.doubleValue), range.contains(i) else {
            throw FlowInputError("config.\(name) must be a whole number from \(range.lowerBound) to \(range.upperBound)")
        }
        return i
    }

    private static func source(_ value: Any?, problems: inout [String]) throws -> Source? {
        guard let value else { return nil }
        guard let object = value as? [String: Any] else {
            problems.append(
                "source '\(value)' is not something this gateway can read: give {\"type\": \"dataset\" | \"datasource\" | \"plugin\" | \"sql\" | \"datamodel\", …} (see docs/dataflow.md)"
            )
            return nil
        }
        let type = (object["type"] as? String ?? "").lowercased()
        func field(_ name: String) throws -> String {
            guard let v = object[name] as? String, !v.isEmpty else { throw FlowInputError("config.source of type \(type) needs '\(name)'") }
            return v
        }
        switch type {
        case "dataset": return .dataset(try field("id"))
        case "datasource": return .datasource(try field("id"), endpoint: (object["endpoint"] as? String).flatMap { $0.isEmpty ? nil : $0 })
        case "sql": return .sql(try field("query"))
        case "datamodel":
            // The query as an object (or its JSON text); checked when the flow runs, with the model as it is then.
            let query: String
            if let text = object["query"] as? String, !text.isEmpty {
                query = text
            } else if let document = object["query"] as? [String: Any] {
                // The stored config does not keep an object's key order, which is the order's priority.
                if let order = document["order"] as? [String: Any], order.count > 1 {
                    throw FlowInputError(
                        "config.source.query.order: give it as a list, [[member, \"asc\" | \"desc\"], …]: a flow's stored config does not keep an object's key order"
                    )
                }
                query = String(decoding: try JSONSerialization.data(withJSONObject: document, options: [.sortedKeys]), as: UTF8.self)
            } else {
                throw FlowInputError("config.source of type datamodel needs 'query': {\"dimensions\": [...], \"measures\": [...]}")
            }
            return .datamodel(id: try field("id"), query: query)
        case "plugin":
            return .plugin(id: try field("plugin"), config: try pluginConfig(object["config"], "config.source.config"))
        default:
            problems.append("source type '\(type)' is not available in this gateway (use one of \(sourceKinds.joined(separator: ", ")))")
            return nil
        }
    }

    /// A plugin's config object as JSON text (`{}` when absent).
    private static func pluginConfig(_ value: Any?, _ name: String) throws -> String {
        let config = value ?? [String: Any]()
        guard config is [String: Any], JSONSerialization.isValidJSONObject(config) else { throw FlowInputError("\(name) must be a JSON object") }
        return String(decoding: try JSONSerialization.data(withJSONObject: config, options: [.sortedKeys, .withoutEscapingSlashes]), as: UTF8.self)
    }

    private static func target(_ value: Any?, problems: inout [String]) throws -> Target? {
        guard let value else { return nil }
        guard let object = value as? [String: Any] else {
            problems.append(
                "target '\(value)' is not something this gateway can write: give {\"type\": \"dataset\" | \"export\" | \"plugin\", …} (see docs/dataflow.md)")
            return nil
        }
        let type = (object["type"] as? String ?? "").lowercased()
        switch type {
        case "dataset":
            guard let id = object["id"] as? String, !id.isEmpty else { throw FlowInputError("config.target of type dataset needs 'id'") }
            let modeName = (object["mode"] as? String ?? "append").lowercased()
            guard let mode = DatasetWriteMode(rawValue: modeName) else {
                throw FlowInputError("config.target.mode must be append, upsert or replace, not '\(modeName)'")
            }
            return .dataset(id, mode: mode)
        case "export":
            let format = (object["format"] as? String ?? "xlsx").lowercased()
            return .export(format: format, title: object["title"] as? String)
        case "plugin":
            guard let id = object["plugin"] as? String, !id.isEmpty else { throw FlowInputError("config.target of type plugin needs 'plugin'") }
            return .plugin(id: id, config: try pluginConfig(object["config"], "config.target.config"))
        default:
            problems.append("target type '\(type)' is not available in this gateway (use one of \(targetKinds.joined(separator: ", ")))")
            return nil
        }
    }
}

/// One entry of `config.transforms`: an object with one key naming the operation.
enum TransformSpec: Equatable {
    case select([String])
    case rename([String: String])
    case cast([String: String])
    case constant([String: FlowValue])
    case filter(column: String, op: FilterRows.Op, values: [FlowValue])
    case dedupe([String])

    static func parse(_ value: Any, index: Int) throws -> TransformSpec {
        let place = "config.transforms[\(index)]"
        guard let object = value as? [String: Any], object.count == 1, let (op, arg) = object.first else {
            throw FlowInputError("\(place) must be an object with one key: select, rename, cast, constant, filter or dedupe")
        }
        func names(_ v: Any) throws -> [String] {
            guard let list = v as? [String], !list.isEmpty else { throw FlowInputError("\(place).\(op) must be a list of column names") }
            return list
        }
        func map(_ v: Any) throws -> [String: String] {
            guard let m = v as? [String: String], !m.isEmpty else { throw FlowInputError("\(place).\(op) must map column names to names") }
            return m
        }
        switch op {
        case "select": return .select(try names(arg))
        case "dedupe": return .dedupe(try names((arg as? [String: Any])?["keys"] ?? arg))
        case "rename": return .rename(try map(arg))
        case "cast":
            let casts = try map(arg)
            for (column, type) in casts where CastColumns.types[type.lowercased()] == nil {
                throw FlowInputError("\(place).cast: '\(type)' for '\(column)' is not a type (use \(CastColumns.types.keys.sorted().joined(separator: ", ")))")
            }
            return .cast(casts)
        case "constant":
            guard let m = arg as? [String: Any], !m.isEmpty else { throw FlowInputError("\(place).constant must map column names to values") }
            var values: [String: FlowValue] = [:]
            for (k, v) in m {
                guard let value = FlowValue(json: v) else {
                    throw FlowInputError("\(place).constant: the value of '\(k)' must be a string, number, boolean or null")
                }
                values[k] = value
            }
            return .constant(values)
        case "filter":
            guard let f = arg as? [String: Any], let column = f["column"] as? String, !column.isEmpty else {
                throw FlowInputError("\(place).filter needs 'column'")
            }
            let opName = (f["op"] as? String ?? "eq").lowercased()
            guard let filterOp = FilterRows.Op(rawValue: opName) else {
                throw FlowInputError("\(place).filter: op '\(opName)' is not one of \(FilterRows.Op.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            let raw = f["value"] ?? (filterOp == .exists ? true : NSNull())
            let list = filterOp == .in ? (raw as? [Any]) : [raw]
            guard let list, !list.isEmpty else { throw FlowInputError("\(place).filter: op in needs a non-empty list as its value") }
            let values = try list.map { v -> FlowValue in
                guard let value = FlowValue(json: v) else { throw FlowInputError("\(place).filter: values must be strings, numbers, booleans or null") }
                return value
            }
            if filterOp != .exists && filterOp != .ne && values.contains(.null) {
                throw FlowInputError("\(place).filter: compare with null through op exists")
            }
            return .filter(column: column, op: filterOp, values: values)
        default:
            throw FlowInputError("\(place): unknown transform '\(op)' (use select, rename, cast, constant, filter or dedupe)")
        }
    }

    func make() -> BatchTransform {
        switch self {
        case .select(let names): SelectColumns(names)
        case .rename(let names): RenameColumns(names)
        case .cast(let casts): CastColumns(casts.compactMapValues { CastColumns.types[$0.lowercased()] })
        case .constant(let values): ConstantColumns(values.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })
        case .filter(let column, let op, let values): FilterRows(column: column, op: op, values: values)
        case .dedupe(let keys): DedupeRows(keys)
        }
    }
}
