import Foundation
import Hummingbird
import PluginKit

/// Seed 001's query requests read from HTTP: GET's query string, POST's JSON body.
extension QueryRequest {
    /// `identity`: who asks (the request's admitted identity), for context parameters.
    static func parse(_ request: Request, bodyLimit: Int, identity: Identity?) async throws -> QueryRequest {
        var body: Data?
        if request.method == .post {
            let bytes = try await request.collectBody(limit: bodyLimit)
            if bytes.readableBytes > 0 { body = Data(bytes.readableBytesView) }
        }
        var query = try parse(query: request.query, body: body, accept: request.headers[.accept])
        query.identity = identity
        return query
    }

    /// The same from its parts: the decoded query string, a POST's JSON body, `Accept`.
    static func parse(query: QueryString, body: Data?, accept: String?) throws -> QueryRequest {
        var q = QueryRequest()
        var options: [String: String] = [:]
        for (k, v) in query.pairs {
            if k.hasPrefix("$") {
                q.parameters[String(k.dropFirst()), default: []].append(v)
            } else {
                options[k.lowercased()] = v
            }
        }
        if let body { try q.merge(jsonBody: body, into: &options) }
        guard q.parameters.values.reduce(0, { $0 + $1.count }) <= maxValues else {
            throw GatewayError.badRequest("more than \(maxValues) parameter values")
        }
        if let accept = accept?.lowercased(), accept.contains("application/vnd.apache.arrow") {
            q.format = "arrow"
        }
        try q.apply(options)
        return q
    }

    /// POST payload: keys are matched case-insensitively ("QueryType" or "queryType").
    /// Values are strings, numbers (their text as sent) or true/false; anything else is a
    /// 400 naming the field, never a value the client did not send.
    private mutating func merge(jsonBody: Data, into options: inout [String: String]) throws {
        let body: OrderedJSON
        do {
            body = try OrderedJSON.parse(Array(jsonBody))
        } catch let e as OrderedJSON.ParseError {
            throw GatewayError.badRequest("the body is not valid JSON: \(e.description)")
        }
        guard case .object(let fields) = body else { throw GatewayError.badRequest("the body must be a JSON object") }
        for (key, value) in fields where value != .null {
            switch key.lowercased() {
            case "datasetparameters", "datasourceparameters", "parameters":
                guard case .object(let params) = value else { throw GatewayError.badRequest("\(key) must be an object") }
                for (name, v) in params {
                    let list = try Self.values(v, name: name)
                    guard !list.isEmpty else { throw GatewayError.badRequest("parameter '\(name)' has no value") }
                    parameters[name, default: []] += list
                }
            case "query" where Self.isContainer(value):
                queryDocument = value
            case "options":
                guard case .object(let opts) = value else { throw GatewayError.badRequest("Options must be an object") }
                for (name, v) in opts where v != .null { options[name.lowercased()] = try Self.scalar(v, what: "option '\(name)'") }
            // `$name` as in the query string: a parameter, not an option nobody reads (a
            // filter silently dropped would answer with every row).
            case let parameter where parameter.hasPrefix("$") && parameter.count > 1:
                parameters[String(key.dropFirst()), default: []] += try Self.values(value, name: String(key.dropFirst()))
            default:
                options[key.lowercased()] = try Self.scalar(value, what: "'\(key)'")
            }
        }
    }

    private static func isContainer(_ v: OrderedJSON) -> Bool {
        switch v {
        case .object, .array: true
        default: false
        }
    }

    /// "a,b" → ["a", "b"]; an array stays a list.
    private static func values(_ v: OrderedJSON, name: String) throws -> [String] {
        let what = "parameter '\(name)'"
        if let list = v.array { return try list.map { try scalar($0, what: what) } }
        return try scalar(v, what: what).split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
    }

    private static func scalar(_ v: OrderedJSON, what: String) throws -> String {
        switch v {
        case .string(let s): return s
        case .number(let n): return n
        case .bool(let b): return b ? "true" : "false"
        default: throw GatewayError.badRequest("\(what) must be a string, a number or true/false")
        }
    }

    private mutating func apply(_ options: [String: String]) throws {
        if let f = options["format"], !f.isEmpty { format = f.lowercased() }
        queryType = options["querytype"].flatMap { $0.isEmpty ? nil : $0 }
        query = options["query"].flatMap { $0.isEmpty ? nil : $0 }
        endpoint = options["endpoint"].flatMap { $0.isEmpty ? nil : $0 }
        if let limit = options["rowlimit"] {
            guard let n = Int(limit), n > 0 else { throw GatewayError.badRequest("RowLimit must be a positive integer") }
            rowLimit = n
        }
        if let u = options["unknowntypehandle"] {
            guard let h = UnknownTypeHandle.allCases.first(where: { $0.rawValue.lowercased() == u.lowercased() }) else {
                throw GatewayError.badRequest("UnknownTypeHandle must be Ignore, Error or CastToString")
            }
            unknownTypes = h
        }
        if let m = options["missparameterhandle"] {
            switch m.lowercased() {
            case "default": missParameter = .default
            case "error": missParameter = .error
            default: throw GatewayError.badRequest("MissParameterHandle must be Default or Error")
            }
        }
    }
}
