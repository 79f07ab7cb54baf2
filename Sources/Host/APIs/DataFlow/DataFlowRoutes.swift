import Foundation
import Hummingbird
import PluginKit

/// Seed 004: `/api/data-flow/...` in the `{"code", "message", "data"}` envelope. Every
/// route of the document, plus tags (`add-tag`, `get-tags`), run history
/// (`get-dataflow-runs/{id}`) and `cancel-execution/{execution_id}`. A bearer token (or
/// `?token=`) with scope `dataflow` unless `dataflows.requireToken` is false.
enum DataFlowRoutes {
    static func register(on routes: GuardedRoutes, styles: EnvelopeStyles, gateway: Gateway) {
        styles.register("/api/data-flow", .codeMessage)
        let flows = routes.group("/api/data-flow", access: .scope("dataflow", required: gateway.config.dataflows.requireToken))
        let service = gateway.dataflows, store = gateway.store
        // Every handler: authorized, then its store work on a worker thread.
        func on(_ method: HTTPRequest.Method, _ path: String, message: String = "success",
                _ body: @escaping @Sendable (Request, GatewayRequestContext, ByteBuffer) throws -> any Encodable & Sendable) {
            flows.on(method, path) { request, context -> Response in
                let permit = try await admit(request, context, gateway)
                defer { withExtendedLifetime(permit) {} }
                let bytes = method == .get || method == .delete ? ByteBuffer() : try await request.collectBody(limit: 1 << 20)
                let data = try await Workers.run { () -> SendableBox in
                    try clientInput { SendableBox(try body(request, context, bytes)) }
                }
                return Envelope.success(.codeMessage, data: AnyEncodable(data.value), message: message, requestId: context.requestId)
            }
        }

        on(.get, "/get-dataflows-list") { request, _, _ in
            let (page, size) = try paging(request, defaultSize: 10)
            let search = request.query["search"] ?? ""
            let (list, total) = try store.dataflows(page: page, pageSize: size, search: search)
            return FlowList(list: list.map { FlowJSON($0) }, pagination: Pagination(page: page, size: size, total: total))
        }
        on(.get, "/get-dataflow/:id") { _, context, _ in
            let flow = try flow(context, store)
            var json = FlowJSON(flow)
            json.tags = try store.tags(of: flow.id)
            json.children = try store.children(of: flow.id)
            json.parents = try store.parents(of: flow.id)
            json.next_run_at = .some(service.nextRun(of: flow).map(FlowTimes.iso))
            json.last_run = .some(try store.latestRun(flow: flow.id).map { RunJSON(service.effective($0)) })
            return json
        }
        on(.post, "/add-dataflow", message: "数据流创建成功") { _, _, body in
            let object = try jsonObject(body)
            let new = NewFlow(
                name: try required(object, "name"), description: try required(object, "description"),
                status: try status(object) ?? "inactive", createdBy: try text(object, "created_by") ?? "system",
                config: try config(object) ?? "{}", childrenIds: try ids(object, "children_ids") ?? [], tagId: try id(object, "tag_id"))
            return FlowJSON(try store.insertDataflow(new, enNameBase: EnglishName.make(new.name)))
        }
        on(.put, "/update-dataflow/:id", message: "数据流更新成功") { _, context, body in
            let flowNumber = try flowId(context)
            let object = try jsonObject(body)
            var changes = FlowChanges()
            changes.name = try text(object, "name")
            if changes.name?.isEmpty == true { throw FlowInputError("参数错误: name 不能为空 (name cannot be empty)") }
            changes.description = try text(object, "description")
            if changes.description?.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty == true {
                throw FlowInputError("参数错误: description 不能为空 (description cannot be empty)")
            }
            changes.status = try status(object)
            changes.config = try config(object)
            changes.childrenIds = try ids(object, "children_ids")
            changes.tagId = try id(object, "tag_id")
            guard let flow = try store.updateDataflow(id: flowNumber, changes) else { throw GatewayError.notFound("数据流不存在 (no dataflow \(flowNumber))") }
            return FlowJSON(flow)
        }
        on(.delete, "/delete-dataflow/:id", message: "数据流删除成功") { _, context, _ in
            let flowNumber = try flowId(context)
            do {
                guard try store.deleteDataflow(id: flowNumber) else { throw GatewayError.notFound("数据流不存在 (no dataflow \(flowNumber))") }
            } catch let conflict as RunConflict {
                throw GatewayError(.conflict, "数据流正在执行 (dataflow \(flowNumber) is running as \(conflict.executionId)): cancel it first (POST /api/data-flow/cancel-execution/\(conflict.executionId)), then delete it")
            }
            return [String: String]()
        }
        on(.post, "/execute-dataflow/:id", message: "数据流执行成功") { _, context, body in
            let flow = try flow(context, store)
            let object = body.readableBytes == 0 ? OrderedJSON.object([]) : try jsonObject(body)
            let params = object["params"] ?? .object([])
            guard case .object = params else { throw FlowInputError("参数错误: params must be a JSON object") }
            do {
                let run = try service.execute(flow, paramsJSON: params.compactText, trigger: "manual")
                return ExecuteJSON(execution_id: run.executionId, dataflow_id: flow.id, status: run.status.rawValue,
                                   started_at: FlowTimes.iso(run.startedAt), params: RawJSON(params.compactText), progress: run.progress)
            } catch let conflict as RunConflict {
                throw GatewayError(.conflict, "dataflow \(flow.id) is already running as \(conflict.executionId): one run at a time")
            }
        }
        on(.get, "/get-dataflow-status/:id") { _, context, _ in
            let flow = try flow(context, store)
            return try store.latestRun(flow: flow.id).map { RunJSON(service.effective($0)) } ?? RunJSON(neverRun: flow.id)
        }
        on(.get, "/get-dataflow-logs/:id") { request, context, _ in
            let flow = try flow(context, store)
            let (page, size) = try paging(request, defaultSize: 50)
            var level: DataflowLog.Level?
            if let name = request.query["level"], !name.isEmpty {
                guard let l = DataflowLog.Level(rawValue: name.uppercased()) else { throw FlowInputError("level must be INFO, WARNING or ERROR") }
                level = l
            }
            var runId: Int64?
            if let execution = request.query["execution_id"], !execution.isEmpty {
                guard let run = try store.run(executionId: execution), run.dataflowId == flow.id else {
                    throw GatewayError.notFound("no execution '\(execution)' of dataflow \(flow.id)")
                }
                runId = run.id
            }
            let newest = (request.query["order"] ?? "asc").lowercased() == "desc"
            let (logs, total) = try store.flowLogs(flow.id, page: page, pageSize: size, level: level, runId: runId, newestFirst: newest)
            return LogsJSON(logs: logs.map(LogJSON.init), pagination: Pagination(page: page, size: size, total: total))
        }
        on(.get, "/get-dataflow-runs/:id") { request, context, _ in
            let flow = try flow(context, store)
            let (page, size) = try paging(request, defaultSize: 20)
            let (runs, total) = try store.runs(flow: flow.id, page: page, pageSize: size)
            return RunsJSON(runs: runs.map { RunJSON(service.effective($0)) }, pagination: Pagination(page: page, size: size, total: total))
        }
        on(.post, "/cancel-execution/:execution_id", message: "已取消") { _, context, _ in
            let execution = try context.pathParameter("execution_id")
            guard let run = try store.run(executionId: execution) else { throw GatewayError.notFound("no execution '\(execution)'") }
            guard try service.cancel(run) else {
                throw GatewayError(.conflict, "execution '\(execution)' has already ended (\(run.status.rawValue))")
            }
            return RunJSON(service.effective(try store.run(executionId: execution) ?? run))
        }
        on(.post, "/add-tag", message: "标签创建成功") { _, _, body in
            let name = try required(try jsonObject(body), "name")
            return try store.createTag(name: name)
        }
        on(.get, "/get-tags") { _, _, _ in try store.tags() }
        flows.post("/create-script") { request, context -> Response in
            let permit = try await admit(request, context, gateway)
            defer { withExtendedLifetime(permit) {} }
            let body = try await request.collectBody(limit: 1 << 20)
            let object = try clientInput { try jsonObject(body) }
            guard let text = object["request_data"]?.string, !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
                throw GatewayError.badRequest("参数错误: 缺少必填字段: request_data")
            }
            let script = try await ScriptGenerator(config: gateway.config.dataflows.script, http: gateway.services.http).generate(text)
            return Envelope.success(.codeMessage, data: script, message: "脚本生成成功", requestId: context.requestId)
        }
    }

    /// Counts the request with the other requests that hold a worker or wait on another
    /// system (pages of runs and logs can be large; create-script waits on its endpoint):
    /// one client cannot take them all.
    static func admit(_ request: Request, _ context: GatewayRequestContext, _ gateway: Gateway) async throws -> RequestLimiter.Permit {
        try await gateway.limiter.acquire(client: context.limiterClient)
    }

    // MARK: reading requests

    /// Runs `read`, turning a body that is not JSON into a 400 that says so (the fields'
    /// own mistakes are `FlowInputError`s, 400s already).
    static func clientInput<T>(_ read: () throws -> T) throws -> T {
        do {
            return try read()
        } catch let e as OrderedJSON.ParseError {
            throw GatewayError.badRequest("the body is not valid JSON: \(e.description)")
        }
    }

    static func jsonObject(_ body: ByteBuffer) throws -> OrderedJSON {
        let value = try OrderedJSON.parse(Array(body.readableBytesView))
        guard case .object = value else { throw FlowInputError("参数错误: the body must be a JSON object") }
        return value
    }

    static func required(_ object: OrderedJSON, _ field: String) throws -> String {
        guard let value = try text(object, field), !value.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw FlowInputError("参数错误: 缺少必填字段: \(field)")
        }
        return value
    }

    static func text(_ object: OrderedJSON, _ field: String) throws -> String? {
        guard let value = object[field], value != .null else { return nil }
        guard let s = value.string else { throw FlowInputError("参数错误: \(field) must be a string") }
        guard s.count <= 10_000 else { throw FlowInputError("参数错误: \(field) is longer than 10000 characters") }
        // Names and descriptions are text people read, shown and stored whole: a NUL has no
        // place in them (a C string or an older reader would end them there).
        guard !s.utf8.contains(0) else { throw FlowInputError("参数错误: \(field) must not contain a NUL character (U+0000)") }
        return s
    }

    static func status(_ object: OrderedJSON) throws -> String? {
        guard let s = try text(object, "status") else { return nil }
        guard Dataflow.statuses.contains(s) else { throw FlowInputError("参数错误: status must be \"active\" or \"inactive\", not '\(s)'") }
        return s
    }

    /// The config object as the client wrote it, checked: malformed keys are refused now.
    static func config(_ object: OrderedJSON) throws -> String? {
        guard let value = object["config"], value != .null else { return nil }
        guard case .object = value else { throw FlowInputError("参数错误: config must be a JSON object") }
        let text = value.compactText
        guard text.utf8.count <= Dataflow.maxConfigBytes else {
            throw FlowInputError("参数错误: config is larger than \(Dataflow.maxConfigBytes) bytes of JSON")
        }
        do {
            _ = try FlowPlan.parse(text)
        } catch let e as FlowInputError {
            throw FlowInputError("参数错误: \(e.description)")
        }
        return text
    }

    static func id(_ object: OrderedJSON, _ field: String) throws -> Int64? {
        guard let value = object[field], value != .null else { return nil }
        guard case .number = value, let i = value.int, i > 0 else { throw FlowInputError("参数错误: \(field) must be a positive whole number") }
        return Int64(i)
    }

    static func ids(_ object: OrderedJSON, _ field: String) throws -> [Int64]? {
        guard let value = object[field], value != .null else { return nil }
        guard let items = value.array, items.count <= 1_000 else { throw FlowInputError("参数错误: \(field) must be a list of ids") }
        return try items.map { item in
            guard case .number = item, let i = item.int, i > 0 else { throw FlowInputError("参数错误: \(field) must hold positive whole numbers") }
            return Int64(i)
        }
    }

    static func flowId(_ context: GatewayRequestContext) throws -> Int64 {
        let raw = try context.pathParameter("id")
        guard let id = Int64(raw), id > 0 else { throw GatewayError.badRequest("参数错误: dataflow_id must be a positive whole number, not '\(raw.prefix(40))'") }
        return id
    }

    static func flow(_ context: GatewayRequestContext, _ store: any DataflowRepository) throws -> Dataflow {
        let id = try flowId(context)
        guard let flow = try store.dataflow(id: id) else { throw GatewayError.notFound("数据流不存在 (no dataflow \(id))") }
        return flow
    }

    static func paging(_ request: Request, defaultSize: Int) throws -> (Int, Int) {
        func number(_ name: String, _ fallback: Int) throws -> Int {
            guard let raw = request.query[name], !raw.isEmpty else { return fallback }
            guard let n = Int(raw), n >= 1 else { throw FlowInputError("参数错误: \(name) must be a whole number from 1") }
            return n
        }
        let page = try number("page", 1), size = try number("page_size", defaultSize)
        guard size <= 100 else { throw FlowInputError("参数错误: page_size must be at most 100") }
        guard page <= 1_000_000 else { throw FlowInputError("参数错误: page is too large") }
        return (page, size)
    }
}

// MARK: what the routes answer

/// Hands a route's answer from the worker back to the handler.
struct SendableBox: @unchecked Sendable {  // built on the worker, read once after it returns
    let value: any Encodable
    init(_ value: any Encodable) { self.value = value }
}

struct AnyEncodable: Encodable {
    let value: any Encodable
    init(_ value: any Encodable) { self.value = value }
    func encode(to encoder: Encoder) throws { try value.encode(to: encoder) }
}

/// JSON text placed as it is (the params a client sent, keys in their order).
struct RawJSON: Encodable {
    let text: String
    init(_ text: String) { self.text = text }
    func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        let value = (try? JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])).map(JSONValueBox.init) ?? JSONValueBox(NSNull())
        try c.encode(value)
    }
}

private struct JSONValueBox: Encodable {
    let value: Any
    init(_ value: Any) { self.value = value }
    func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch value {
        case let n as NSNumber where String(cString: n.objCType) == "c": try c.encode(n.boolValue)
        case let n as NSNumber:
            if let i = Int64(exactly: n.doubleValue), !String(describing: n).contains(".") { try c.encode(i) } else { try c.encode(n.doubleValue) }
        case let s as String: try c.encode(s)
        case let a as [Any]: try c.encode(a.map(JSONValueBox.init))
        case let o as [String: Any]: try c.encode(o.mapValues(JSONValueBox.init))
        default: try c.encodeNil()
        }
    }
}

struct Pagination: Encodable {
    let page: Int
    let page_size: Int
    let total: Int
    let total_pages: Int
    init(page: Int, size: Int, total: Int) {
        self.page = page
        page_size = size
        self.total = total
        total_pages = (total + size - 1) / size
    }
}

struct FlowJSON: Encodable {
    let id: Int64
    let name: String
    let en_name: String
    let description: String
    let status: String
    let created_at: String
    let updated_at: String
    let created_by: String
    let config: String
    var tags: [DataflowTag]?
    var children: [DataflowRef]?
    var parents: [DataflowRef]?
    /// Present (possibly null) only in get-dataflow.
    var next_run_at: String??
    var last_run: RunJSON??

    init(_ f: Dataflow) {
        id = f.id
        name = f.name
        en_name = f.enName
        description = f.description
        status = f.status
        created_at = FlowTimes.plain(f.createdAt)
        updated_at = FlowTimes.plain(f.updatedAt)
        created_by = f.createdBy
        config = f.config
    }

    enum CodingKeys: String, CodingKey {
        case id, name, en_name, description, status, created_at, updated_at, created_by, config, tags, children, parents, next_run_at, last_run
    }

    func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(name, forKey: .name)
        try c.encode(en_name, forKey: .en_name)
        try c.encode(description, forKey: .description)
        try c.encode(status, forKey: .status)
        try c.encode(created_at, forKey: .created_at)
        try c.encode(updated_at, forKey: .updated_at)
        try c.encode(created_by, forKey: .created_by)
        try c.encode(config, forKey: .config)
        try c.encodeIfPresent(tags, forKey: .tags)
        try c.encodeIfPresent(children, forKey: .children)
        try c.encodeIfPresent(parents, forKey: .parents)
        if let next = next_run_at { try c.encode(next, forKey: .next_run_at) }
        if let last = last_run { try c.encode(last, forKey: .last_run) }
    }
}

struct FlowList: Encodable {
    let list: [FlowJSON]
    let pagination: Pagination
}

/// A run as status, history and cancel show it; a flow never run has a null status.
struct RunJSON: Encodable {
    let execution_id: String?
    let dataflow_id: Int64
    let status: String?
    let trigger: String?
    let progress: Int
    let started_at: String?
    let completed_at: String?
    let error_message: String?
    let rows_read: Int64
    let rows_written: Int64
    /// Rows the destination of a sink plugin refused one by one (0 for other targets).
    let rows_rejected: Int64
    let params: RawJSON?
    /// For a flow whose target is an export: the export task, read with /v1/export/detail.
    let export_key: String?

    init(_ r: DataflowRun) {
        execution_id = r.executionId
        dataflow_id = r.dataflowId
        status = r.status.rawValue
        trigger = r.trigger
        progress = r.progress
        started_at = FlowTimes.iso(r.startedAt)
        completed_at = r.completedAt.map(FlowTimes.iso)
        error_message = r.errorMessage
        rows_read = r.rowsRead
        rows_written = r.rowsWritten
        rows_rejected = r.rowsRejected
        params = RawJSON(r.params)
        export_key = r.exportKey.isEmpty ? nil : r.exportKey
    }

    init(neverRun flow: Int64) {
        execution_id = nil
        dataflow_id = flow
        (status, trigger, started_at, completed_at, error_message, params, export_key) = (nil, nil, nil, nil, nil, nil, nil)
        (progress, rows_read, rows_written, rows_rejected) = (0, 0, 0, 0)
    }

    enum CodingKeys: String, CodingKey {
        case execution_id, dataflow_id, status, trigger, progress, started_at, completed_at, error_message, rows_read, rows_written, rows_rejected, params, export_key
    }

    /// Every key present, null when unknown (as the doc shows `completed_at` while running);
    /// `export_key` only for export runs.
    func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(execution_id, forKey: .execution_id)
        try c.encode(dataflow_id, forKey: .dataflow_id)
        try c.encode(status, forKey: .status)
        try c.encode(trigger, forKey: .trigger)
        try c.encode(progress, forKey: .progress)
        try c.encode(started_at, forKey: .started_at)
        try c.encode(completed_at, forKey: .completed_at)
        try c.encode(error_message, forKey: .error_message)
        try c.encode(rows_read, forKey: .rows_read)
        try c.encode(rows_written, forKey: .rows_written)
        try c.encode(rows_rejected, forKey: .rows_rejected)
        try c.encode(params, forKey: .params)
        try c.encodeIfPresent(export_key, forKey: .export_key)
    }
}

struct ExecuteJSON: Encodable {
    let execution_id: String
    let dataflow_id: Int64
    let status: String
    let started_at: String
    let params: RawJSON
    let progress: Int
}

struct LogJSON: Encodable {
    let id: Int64
    let timestamp: String
    let level: String
    let message: String
    let component: String
    let execution_run: Int64?

    init(_ l: DataflowLog) {
        id = l.id
        timestamp = FlowTimes.iso(l.at)
        level = l.level.rawValue
        message = l.message
        component = l.component
        execution_run = l.runId
    }
}

struct LogsJSON: Encodable {
    let logs: [LogJSON]
    let pagination: Pagination
}

struct RunsJSON: Encodable {
    let runs: [RunJSON]
    let pagination: Pagination
}
