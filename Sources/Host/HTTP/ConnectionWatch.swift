import NIOCore
import Synchronization

/// Tells the work done for a request that its client's connection has closed, so a query
/// nobody will read stops at once. One close callback per connection, not per request: a
/// kept-alive connection carries many requests, and futures never forget a callback.
final class ConnectionWatch: Sendable {
    static let shared = ConnectionWatch()

    private struct Watched {
        /// The channel this entry belongs to: an address (the key) is reused once a channel
        /// is freed, and a new channel must never inherit an old one's entry, or its own
        /// close would go unwatched.
        weak var channel: (any Channel)?
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
            let isNew = c[key]?.channel !== channel
            if isNew { c[key] = Watched(channel: channel) }
            c[key]?.hooks[id] = hook
            return isNew
        }
        if isNew { channel.closeFuture.whenComplete { [self, weak channel] _ in closed(key, channel) } }
        if !channel.isActive { closed(key, channel) }
        return Registration(self, key, id)
    }

    /// `channel` is nil when it has been freed since: then only an entry whose own channel
    /// is gone too is its, never a newer channel's at the same address.
    private func closed(_ key: ObjectIdentifier, _ channel: (any Channel)?) {
        let hooks = connections.withLock { c -> [@Sendable () -> Void] in
            guard let entry = c[key], entry.channel == nil || entry.channel === channel else { return [] }
            c[key] = nil
            return Array(entry.hooks.values)
        }
        hooks.forEach { $0() }
    }

    private func remove(_ key: ObjectIdentifier, _ id: UInt64) {
        connections.withLock { c in _ = c[key]?.hooks.removeValue(forKey: id) }
    }

    /// Connections with an entry (for tests).
    var count: Int { connections.withLock { $0.count } }
}
