import Foundation

/// An execute's `params` (seed 004): the run's variables. One rule, so that the seed's own
/// clients survive whatever they send:
///
/// - **Run options** this gateway knows are honoured: `batch_size` (rows per batch, this run
///   only) and `force_refresh` (an incremental source plugin reads from its configured start
///   instead of its saved cursor). They are checked at execute: a wrong type is a 400 then.
/// - **Variables the flow's source uses** bind as a query's parameters would: a dataset's
///   columns filter it, a SQL source's `:name`s and a model's parameters take their values,
///   and a source plugin receives every variable (lists of strings, as the ABI says), so an
///   incremental plugin reads its date window from `start_date` and `end_date`.
/// - **The rest** is recorded on the run (its `params`, shown by status and history) and
///   named in its log, without failing it.
/// - A flow whose config declares `params` (`{"since": {"required": true}, "region":
///   {"default": "east"}}`) is strict: an execute with a variable it does not declare, or
///   without a required one, is refused at once (400), and defaults fill what is missing.
struct RunParams {
    /// Every variable, as sent (defaults added): JSON values.
    let variables: [String: Any]
    /// `batch_size` when given: the run's batch size instead of the config's.
    let batchSize: Int?
    /// `force_refresh: true`.
    let forceRefresh: Bool

    /// Names the gateway reads itself: never "unused".
    static let options: Set<String> = ["batch_size", "force_refresh"]

    /// A declared parameter of a strict flow (config `params`).
    struct Declared: Equatable {
        var required = false
        /// JSON text of the default value, if any.
        var defaultJSON: String?
    }

    /// Reads and checks `json` (the execute's params object) against `declared` (nil: the
    /// flow does not declare its parameters). Throws FlowInputError, the execute's 400.
    init(json: String, declared: [String: Declared]?) throws {
        var values = (try? JSONSerialization.jsonObject(with: Data(json.utf8))) as? [String: Any] ?? [:]
        if let declared {
            let unknown = values.keys.filter { declared[$0] == nil && !Self.options.contains($0) }.sorted()
            if !unknown.isEmpty {
                let list = declared.keys.sorted().joined(separator: ", ")
                throw FlowInputError(
                    "参数错误: params \(unknown.map { "'\($0)'" }.joined(separator: ", ")) are not parameters of this dataflow (config.params declares \(list.isEmpty ? "none" : list))"
                )
            }
            for (name, spec) in declared.sorted(by: { $0.key < $1.key }) where values[name] == nil || values[name] is NSNull {
                if let text = spec.defaultJSON, let value = try? JSONSerialization.jsonObject(with: Data(text.utf8), options: .fragmentsAllowed) {
                    values[name] = value
                } else if spec.required {
                    throw FlowInputError("参数错误: params.\(name) is required by this dataflow (config.params)")
                }
            }
        }
        variables = values
        batchSize = try Self.integer(values["batch_size"], "batch_size", 1...1_000_000)
        forceRefresh = try Self.flag(values["force_refresh"], "force_refresh")
    }

    /// The variables as a query's parameter values: each a list of strings (a list gives
    /// several values; an object its JSON text).
    var parameterValues: [String: [String]] { Self.parameterValues(variables) }

    static func parameterValues(_ params: [String: Any]) -> [String: [String]] {
        params.mapValues { value in
            if let list = value as? [Any] { return list.map(text) }
            return [value is NSNull ? "" : text(value)]
        }
    }

    private static func text(_ value: Any) -> String {
        if value is [String: Any] || value is [Any] {
            return (try? JSONSerialization.data(withJSONObject: value)).map { String(decoding: $0, as: UTF8.self) } ?? ""
        }
        return FlowValue(json: value)?.description ?? "\(value)"
    }

    /// The variables a source with these accepted names does not read (nil: it reads all),
    /// options aside.
    func unused(accepted: Set<String>?) -> [String] {
        guard let accepted else { return [] }
        return variables.keys.filter { !accepted.contains($0) && !Self.options.contains($0) }.sorted()
    }

    private static func integer(_ value: Any?, _ name: String, _ range: ClosedRange<Int>) throws -> Int? {
        guard let value, !(value is NSNull) else { return nil }
        let number: Int?
        switch value {
        case let n as NSNumber where String(cString: n.objCType) != "c": number = Int(exactly: n.doubleValue)
        case let s as String: number = Int(s.trimmingCharacters(in: .whitespaces))
        default: number = nil
        }
        guard let number, range.contains(number) else {
            throw FlowInputError("参数错误: params.\(name) must be a whole number from \(range.lowerBound) to \(range.upperBound)")
        }
        return number
    }

    private static func flag(_ value: Any?, _ name: String) throws -> Bool {
        guard let value, !(value is NSNull) else { return false }
        switch value {
        case let n as NSNumber where String(cString: n.objCType) == "c": return n.boolValue
        case let s as String where ["true", "false", "1", "0"].contains(s.lowercased()): return s.lowercased() == "true" || s == "1"
        case let n as NSNumber where n.doubleValue == 0 || n.doubleValue == 1: return n.doubleValue == 1
        default: throw FlowInputError("参数错误: params.\(name) must be true or false")
        }
    }
}
