import NIOCore
import PluginKit

extension OutputBuffer {
    /// The bytes so far, as a ByteBuffer; the buffer is empty afterwards.
    mutating func takeByteBuffer() -> ByteBuffer {
        defer { reset() }
        return withBytes { ByteBuffer(bytes: $0) }
    }
}
