import Foundation
import PluginABI
import PluginKit
import Testing
@testable import Host

/// The host service table, called through PluginKit the way a plugin calls it.
@Suite struct HostServicesTests {
    func services(_ gateway: Gateway, _ context: InstanceContext) -> HostServices {
        HostServices(api: HostServiceTable.shared.value, ctx: context.opaque)
    }

    @Test func httpThroughTheHostHonoursTheAllowList() async throws {
        let gateway = try TestSupport.gateway()
        try await TestServer.with(gateway) { server in
            let context = InstanceContext(pluginId: "t", instanceName: "i", services: gateway.services)
            let host = services(gateway, context)
            let base = server.base
            let reply = try await TestSupport.onThread { try host.http(method: "GET", url: "\(base)/healthz", headers: [("x-request-id", "from-plugin")]) }
            #expect(reply.status == 200)
            #expect(reply.header("X-Request-Id") == "from-plugin")
            #expect(String(decoding: reply.body, as: UTF8.self).contains("\"status\":\"ok\""))

            let notFound = try await TestSupport.onThread { try host.http(method: "GET", url: "\(base)/nope") }
            #expect(notFound.status == 404)  // an HTTP status is an answer, not a failure

            do {
                _ = try await TestSupport.onThread { try host.http(method: "GET", url: "http://example.com/") }
                Issue.record("a host outside the allow-list was reached")
            } catch let e as PluginError {
                #expect(e.status == GW_DENIED)
                #expect(e.message.contains("not in the allow-list"))
            }
            context.cancel()
            do {
                _ = try await TestSupport.onThread { try host.http(method: "GET", url: "\(base)/healthz") }
                Issue.record("a cancelled instance could still make requests")
            } catch let e as PluginError {
                #expect(e.status == GW_CANCELLED)
            }
        }
    }

    @Test func stateIsPerInstanceAndPersistent() throws {
        let gateway = try TestSupport.gateway()
        let a = InstanceContext(pluginId: "p", instanceName: "a", services: gateway.services)
        let b = InstanceContext(pluginId: "p", instanceName: "b", services: gateway.services)
        let hostA = services(gateway, a), hostB = services(gateway, b)
        try hostA.setState("cursor", Array("2026-11-21".utf8))
        #expect(try hostA.state("cursor") == Array("2026-11-21".utf8))
        #expect(try hostB.state("cursor") == nil)
        try hostA.deleteState("cursor")
        #expect(try hostA.state("cursor") == nil)
        #expect(throws: PluginError.self) { try hostA.setState(String(repeating: "k", count: 300), []) }
    }

    @Test func allowListMatching() {
        let list = HostAllowList(["127.0.0.1", "*.jushuitan.com", "Example.org"])
        #expect(list.allows(host: "127.0.0.1"))
        #expect(list.allows(host: "openapi.jushuitan.com"))
        #expect(!list.allows(host: "jushuitan.com"))
        #expect(!list.allows(host: "evil-jushuitan.com"))
        #expect(list.allows(host: "example.ORG"))
        #expect(!list.allows(host: "10.0.0.1"))
    }
}

/// ABI 1.1: what instances of one plugin share.
@Suite struct SharedServicesTests {
    @Test func sharedStateLocksAndPacing() async throws {
        let gateway = try TestSupport.gateway()
        let a = InstanceContext(pluginId: "p", instanceName: "a", services: gateway.services)
        let b = InstanceContext(pluginId: "p", instanceName: "b", services: gateway.services)
        let other = InstanceContext(pluginId: "q", instanceName: "a", services: gateway.services)
        let hostA = HostServices(api: HostServiceTable.shared.value, ctx: a.opaque)
        let hostB = HostServices(api: HostServiceTable.shared.value, ctx: b.opaque)
        let hostOther = HostServices(api: HostServiceTable.shared.value, ctx: other.opaque)

        try hostA.setSharedState("token:app", Array("t1".utf8))
        #expect(try hostB.sharedState("token:app") == Array("t1".utf8))
        #expect(try hostOther.sharedState("token:app") == nil)  // another plugin's is its own
        #expect(try hostB.state("token:app") == nil)  // and instance state stays apart

        // The lock: B waits while A holds it, and times out.
        try hostA.withSharedLock("refresh") {
            do {
                try hostB.withSharedLock("refresh", timeoutMilliseconds: 100) {}
                Issue.record("B took a lock A holds")
            } catch let e as PluginError {
                #expect(e.status == 5)  // GW_UNAVAILABLE
            }
            try hostOther.withSharedLock("refresh", timeoutMilliseconds: 100) {}  // another plugin's lock is free
        }
        try hostB.withSharedLock("refresh", timeoutMilliseconds: 100) {}

        // Pacing across instances: 12 calls at 5 per second take at least 2 seconds.
        let start = Date()
        var times: [Double] = []
        for i in 0..<12 {
            try (i % 2 == 0 ? hostA : hostB).pace(bucket: "app", perSecond: 5, perMinute: 100)
            times.append(Date().timeIntervalSince(start))
        }
        for (i, t) in times.enumerated() where i >= 5 {
            #expect(t - times[i - 5] >= 0.99, "call \(i) came \(t - times[i - 5]) s after call \(i - 5)")
        }
        a.cancel()
        #expect(throws: PluginError.self) { try hostA.pace(bucket: "app", perSecond: 1, perMinute: 0) }
    }
}
