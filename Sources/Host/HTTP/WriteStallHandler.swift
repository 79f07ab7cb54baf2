import NIOCore

/// Closes a connection whose client has taken none of the response for `timeout`: the
/// socket stayed unwritable (its send buffer full) that long. Hummingbird's idle timeout
/// counts only what the client sends, so a client that asks for a large response and never
/// reads it would otherwise hold its connection, and the work behind it, forever. The
/// timeout is generous: a slow reader empties a full send buffer in bursts.
final class WriteStallHandler: ChannelInboundHandler, RemovableChannelHandler {
    // Never unwrapped: parts pass through untouched.
    typealias InboundIn = NIOAny

    private let timeout: TimeAmount
    private var timer: Scheduled<Void>?

    init(timeout: TimeAmount) {
        self.timeout = timeout
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            timer?.cancel()
            timer = nil
        } else if timer == nil {
            let bound = context.loopBound
            timer = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) { [self] in
                timer = nil
                bound.value.close(promise: nil)
            }
        }
        context.fireChannelWritabilityChanged()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
    }
}
