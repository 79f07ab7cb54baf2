import NIOCore
import Synchronization

/// Connections open per client address, shared by every connection's handler.
final class AddressConnections: Sendable {
    let maxPerAddress: Int
    private let open = Mutex<[String: Int]>([:])

    init(maxPerAddress: Int) {
        self.maxPerAddress = maxPerAddress
    }

    /// Counts a new connection; false when its address already has its share.
    func admit(_ address: String) -> Bool {
        open.withLock { counts in
            let n = counts[address, default: 0]
            guard n < maxPerAddress else { return false }
            counts[address] = n + 1
            return true
        }
    }

    func leave(_ address: String) {
        open.withLock { counts in
            let n = counts[address, default: 1] - 1
            counts[address] = n > 0 ? n : nil
        }
    }
}

/// Closes a connection at once when its address already holds
/// `server.maxConnectionsPerAddress`: one client opening a thousand idle connections must
/// not take every slot of the gateway's connection cap from the others.
final class AddressConnectionCap: ChannelInboundHandler, RemovableChannelHandler {
    // Never unwrapped: parts pass through untouched.
    typealias InboundIn = NIOAny

    private let connections: AddressConnections
    private var counted: String?

    init(_ connections: AddressConnections) {
        self.connections = connections
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { admit(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        if counted == nil { admit(context) }
        context.fireChannelActive()
    }

    private func admit(_ context: ChannelHandlerContext) {
        let address = context.channel.remoteAddress?.ipAddress ?? "unknown"
        guard connections.admit(address) else {
            context.close(promise: nil)
            return
        }
        counted = address
    }

    func channelInactive(context: ChannelHandlerContext) {
        release()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        release()
    }

    private func release() {
        if let counted { connections.leave(counted) }
        counted = nil
    }
}
