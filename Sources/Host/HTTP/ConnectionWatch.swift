import NIOCore
import Synchronization

/// Tells the work done for a request that its client's connection has closed, so a query
/// nobody will read stops at once. One close callback per connection, not per request: a
/// kept-alive connection carries many requests, and futures never forget a callback.
final class ConnectionWatch: Sendable {
    static let shared = ConnectionWatch()

    private struct Watched {
        var hooks: [UInt64: @Sendable () -> Void] = [:]
    }

    private let connections = Mutex<[ObjectIdentifier: Watched]>([:])
    private let nextId = Atomic<UInt64>(0)

    /// Removes its hook when dropped: hold it while the work runs.
    final class Registration: Sendable {
        let watch: ConnectionWatch
        let connection: ObjectIdentifier
        let id: UInt64
        init(_ watch: ConnectionWatch, _ connection: ObjectIdentifier, _ id: UInt64) {
            self.watch = watch
            self.connection = connection
            self.id = id
        }
        deinit { watch.remove(connection, id) }
    }

    /// Runs `hook` once when `channel` closes (at once if it already has).
    func onClose(_ channel: any Channel, _ hook: @escaping @Sendable () -> Void) -> Registration {
        let key = ObjectIdentifier(channel)
        let id = nextId.wrappingAdd(1, ordering: .relaxed).oldValue
        let isNew = connections.withLock { c -> Bool in
            let isNew = c[key] == nil
            c[key, default: Watched()].hooks[id] = hook
            return isNew
        }
        if isNew { channel.closeFuture.whenComplete { [self] _ in closed(key) } }
        if !channel.isActive { closed(key) }
        return Registration(self, key, id)
    }

    private func closed(_ key: ObjectIdentifier) {
        let hooks = connections.withLock { $0.removeValue(forKey: key)?.hooks.values.map { $0 } ?? [] }
        hooks.forEach { $0() }
    }

    private func remove(_ key: ObjectIdentifier, _ id: UInt64) {
        connections.withLock { c in _ = c[key]?.hooks.removeValue(forKey: id) }
    }

    /// Connections with an entry (for tests).
    var count: Int { connections.withLock { $0.count } }
}
