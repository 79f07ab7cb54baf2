import NIOCore

/// Closes the connection when the client closes its side (TCP FIN). The server keeps
/// remote half-closure on, under which a client that hangs up is only "input closed":
/// the connection would stay open, and a query nobody will read would run on. Like nginx,
/// a client that stops sending mid-exchange is taken to have gone; its connection closes
/// and the work done for it stops (see ConnectionWatch).
final class ClientCloseHandler: ChannelInboundHandler, RemovableChannelHandler {
    // Never unwrapped: parts pass through untouched.
    typealias InboundIn = NIOAny

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed {
            context.close(promise: nil)
        }
        context.fireUserInboundEventTriggered(event)
    }
}
