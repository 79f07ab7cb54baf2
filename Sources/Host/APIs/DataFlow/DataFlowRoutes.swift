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
        func on(
            _ method: HTTPRequest.Method, _ path: String, message: String = "success",
            _ body: @escaping @Sendable (Request, GatewayRequestContext, ByteBuffer) throws -> any Encodable & Sendable
        ) {
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
        on(.post, "/add-dataflow", message: "数据流创建成功") { _, context, body in
            let object = try jsonObject(body)
            let new = NewFlow(
                name: try required(object, "name"), description: try required(object, "description"),
                status: try status(object) ?? "inactive", createdBy: try text(object, "created_by") ?? "system",
                config: try config(object) ?? "{}", childrenIds: try ids(object, "children_ids") ?? [], tagId: try id(object, "tag_id"),
                runAs: context.identity)
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
            changes.runAs = context.identity
            guard let flow = try store.updateDataflow(id: flowNumber, changes) else { throw GatewayError.notFound("数据流不存在 (no dataflow \(flowNumber))") }
            return FlowJSON(flow)
        }
        on(.delete, "/delete-dataflow/:id", message: "数据流删除成功") { _, context, _ in
            let flowNumber = try flowId(context)
            do {
                guard try store.deleteDataflow(id: flowNumber) else { throw GatewayError.notFound("数据流不存在 (no dataflow \(flowNumber))") }
            } catch let conflict as RunConflict {
                throw GatewayError(
                    .conflict,
                    "数据流正在执行 (dataflow \(flowNumber) is running as \(conflict.executionId)): cancel it first (POST /api/data-flow/cancel-execution/\(conflict.executionId)), then delete it"
                )
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
                return ExecuteJSON(
                    execution_id: run.executionId, dataflow_id: flow.id, status: run.status.rawValue,
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
