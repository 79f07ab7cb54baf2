import Foundation
import PluginKit

/// What a client asks a data model (the seed's `Query`), as a JSON object in the shape of
/// Cube's REST queries:
///
///     {"dimensions": ["region"], "measures": ["revenue", "orders"],
///      "filters": [{"member": "region", "operator": "in", "values": ["north", {"param": "extra"}]},
///                  {"member": "revenue", "operator": "gt", "values": [100]}],
///      "order": {"revenue": "desc"}, "limit": 10}
///
/// Filters on dimensions restrict rows (WHERE), filters on measures restrict groups
/// (HAVING). A value is a string, a number, true/false, or `{"param": "name"}`: the model
/// parameter's values (given as `$name`, else its default).
struct ModelQuery: Sendable {
    enum Operator: String, Sendable, CaseIterable {
        case equals, notEquals, gt, gte, lt, lte, between, set, notSet

        /// Every spelling a client may send (Cube's names, SQL's symbols, in / notIn).
        static func named(_ text: String) -> Operator? {
            switch text.lowercased() {
            case "equals", "=", "==", "in": .equals
            case "notequals", "!=", "<>", "notin", "not in": .notEquals
            case "gt", ">": .gt
            case "gte", ">=": .gte
            case "lt", "<": .lt
            case "lte", "<=": .lte
            case "between": .between
            case "set", "isnotnull": .set
            case "notset", "isnull": .notSet
            default: nil
            }
        }
    }

    enum Value: Sendable {
        case literal(String)
        case parameter(String)
    }

    struct Filter: Sendable {
        let member: String
        let op: Operator
        let values: [Value]
    }

    var dimensions: [String] = []
    var measures: [String] = []
    var filters: [Filter] = []
    /// Members to order by, in order; true for descending.
    var order: [(member: String, descending: Bool)] = []
    var limit: Int?

    /// Queries are a few hundred bytes; this keeps a hostile one from costing anything.
    static let maxMembers = 256

    static func parse(_ text: String) throws -> ModelQuery {
        let json: OrderedJSON
        do {
            json = try OrderedJSON.parse(Array(text.utf8))
        } catch let e as OrderedJSON.ParseError {
            throw DataModel.Invalid("the query is not valid JSON: \(e.description) (see docs/api.md, \"Data models\")")
        }
        return try parse(json)
    }

    static func parse(_ json: OrderedJSON) throws -> ModelQuery {
        guard case .object(let fields) = json else {
            throw DataModel.Invalid("the query must be a JSON object like {\"dimensions\": [...], \"measures\": [...]}")
        }
        var q = ModelQuery()
        for (key, value) in fields {
            switch key.lowercased() {
            case "dimensions": q.dimensions = try names(value, key)
            case "measures": q.measures = try names(value, key)
            case "filters":
                guard let list = value.array else { throw DataModel.Invalid("'filters' must be an array of {\"member\", \"operator\", \"values\"}") }
                q.filters = try list.map(filter)
            case "order": q.order = try order(value)
            case "limit":
                guard let n = value.int, n > 0 else { throw DataModel.Invalid("'limit' must be a positive integer") }
                q.limit = n
            default:
                throw DataModel.Invalid("unknown query field '\(key)' (use dimensions, measures, filters, order, limit)")
            }
        }
        guard !q.dimensions.isEmpty || !q.measures.isEmpty else { throw DataModel.Invalid("the query selects nothing: give 'dimensions' or 'measures'") }
        guard q.dimensions.count + q.measures.count + q.filters.count + q.order.count <= maxMembers else {
            throw DataModel.Invalid("the query names more than \(maxMembers) members")
        }
        return q
    }

    private static func names(_ value: OrderedJSON, _ key: String) throws -> [String] {
        guard let list = value.array else { throw DataModel.Invalid("'\(key)' must be an array of member names") }
        return try list.map {
            guard let s = $0.string else { throw DataModel.Invalid("'\(key)' must be an array of member names") }
            return s
        }
    }

    private static func filter(_ value: OrderedJSON) throws -> Filter {
        guard case .object = value, let member = value["member"]?.string else {
            throw DataModel.Invalid("a filter is {\"member\": name, \"operator\": op, \"values\": [...]}")
        }
        guard let opText = value["operator"]?.string, let op = Operator.named(opText) else {
            throw DataModel.Invalid("filter on '\(member)': 'operator' must be one of equals, notEquals, in, notIn, gt, gte, lt, lte, between, set, notSet")
        }
        var values: [Value] = []
        switch value["values"] ?? value["value"] {
        case nil, .null?: break
        case .array(let list)?: values = try list.map { try Self.value($0, member) }
        case let single?: values = [try Self.value(single, member)]
        }
        return Filter(member: member, op: op, values: values)
    }

    private static func value(_ v: OrderedJSON, _ member: String) throws -> Value {
        switch v {
        case .string(let s): return .literal(s)
        case .number(let n): return .literal(n)
        case .bool(let b): return .literal(b ? "true" : "false")
        case .object:
            guard let name = v["param"]?.string else { fallthrough }
            return .parameter(name)
        default:
            throw DataModel.Invalid("filter on '\(member)': a value is a string, a number, true/false or {\"param\": name}")
        }
    }

    /// `{"revenue": "desc", "region": "asc"}` (keys in order) or `[["revenue", "desc"], ...]`.
    private static func order(_ value: OrderedJSON) throws -> [(member: String, descending: Bool)] {
        func direction(_ v: OrderedJSON?, _ member: String) throws -> Bool {
            switch v?.string?.lowercased() {
            case "asc"?, nil: return false
            case "desc"?: return true
            default: throw DataModel.Invalid("order of '\(member)' must be \"asc\" or \"desc\"")
            }
        }
        switch value {
        case .object(let pairs): return try pairs.map { ($0.0, try direction($0.1, $0.0)) }
        case .array(let list):
            return try list.map { item in
                guard let pair = item.array, let member = pair.first?.string, pair.count <= 2 else {
                    throw DataModel.Invalid("'order' is {\"member\": \"asc\"|\"desc\", ...} or [[member, \"asc\"|\"desc\"], ...]")
                }
                return (member, try direction(pair.count == 2 ? pair[1] : nil, member))
            }
        default: throw DataModel.Invalid("'order' is {\"member\": \"asc\"|\"desc\", ...} or [[member, \"asc\"|\"desc\"], ...]")
        }
    }
}
