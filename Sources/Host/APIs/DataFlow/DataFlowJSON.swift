import Foundation
import PluginKit

// Seed 004's response bodies: flows, runs, logs and their pages, as the document spells them.

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
    /// Who the flow's runs read as (row filters, context parameters), or null.
    let run_as: RunAs?
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
        run_as = f.runAs.map { RunAs(kind: $0.kind.rawValue, id: $0.id, name: $0.name) }
    }

    struct RunAs: Encodable { let kind: String, id: String, name: String }

    enum CodingKeys: String, CodingKey {
        case id, name, en_name, description, status, created_at, updated_at, created_by, config, run_as, tags, children, parents, next_run_at,
            last_run
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
        try c.encode(run_as, forKey: .run_as)
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
    /// The gateway that runs (or ran) it, by its id (`gateway.id`).
    let gateway: String?
    /// 1, and one more each time another gateway ran it again (its gateway had stopped).
    let attempt: Int64?

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
        gateway = r.gateway.isEmpty ? nil : r.gateway
        attempt = r.attempt
    }

    init(neverRun flow: Int64) {
        execution_id = nil
        dataflow_id = flow
        (status, trigger, started_at, completed_at, error_message, params, export_key, gateway, attempt) = (nil, nil, nil, nil, nil, nil, nil, nil, nil)
        (progress, rows_read, rows_written, rows_rejected) = (0, 0, 0, 0)
    }

    enum CodingKeys: String, CodingKey {
        case execution_id, dataflow_id, status, trigger, progress, started_at, completed_at, error_message, rows_read, rows_written, rows_rejected, params,
            export_key, gateway, attempt
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
        try c.encode(gateway, forKey: .gateway)
        try c.encode(attempt, forKey: .attempt)
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
