internal import CFastDeflate
import CZlib
import PluginABI

/// An entry's bytes deflated as a run of their own: no back-references into earlier runs,
/// ending byte-aligned (a sync flush) and not final. Runs made on several threads at once
/// concatenate, in order, into one valid deflate stream, as pigz makes one: what lets an
/// exporter render and compress a sheet on every core. ZipWriter ends the stream.
public struct DeflatedRun: Sendable {
    public let bytes: [UInt8]
    /// CRC-32 and length of the bytes the run holds (before deflate).
    public let crc: UInt32
    public let size: Int
}

/// Makes runs; one per thread (its stream and buffers are reused run after run).
public final class RunDeflater {
    private let stream: DeflateStream
    private var out: [UInt8] = []

    /// Levels 1 to 3 on ISA-L when the machine has it (see fast_deflate.h), else zlib.
    public init(level: Int32, fastDeflate: Bool = true) throws {
        guard (0...9).contains(level) else { throw PluginError(status: GW_INVALID_ARGUMENT, "deflate level \(level) is not 0 to 9") }
        stream = try DeflateStream(level: level, fast: fastDeflate && gw_fast_deflate_available() != 0 && (1...3).contains(level))
    }

    /// Deflates `input` as one run (at most 1 GB).
    public func run(_ input: UnsafeRawBufferPointer) throws -> DeflatedRun {
        guard input.count <= 1 << 30 else { throw PluginError.internalError("a deflate run of \(input.count) bytes is over 1 GB") }
        let written = try stream.run(input.bindMemory(to: UInt8.self), into: &out)
        return DeflatedRun(bytes: Array(out[0..<written]), crc: ZipWriter.crc32(0, input, fast: stream.isFast), size: input.count)
    }
}

/// One raw deflate stream, on ISA-L or on zlib.
final class DeflateStream {
    /// Allocated, never moved: zlib's state points back at its z_stream, and a copy of the
    /// struct (an Optional, an inout temporary) fails its checks.
    private let zlib: UnsafeMutablePointer<z_stream>?
    private let fast: OpaquePointer?

    init(level: Int32, fast useFast: Bool) throws {
        if useFast, let f = gw_fast_deflate_new(level) {
            fast = f
            zlib = nil
            return
        }
        fast = nil
        let z = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
        z.initialize(to: z_stream())
        guard
            deflateInit2_(
                z, level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION,
                Int32(MemoryLayout<z_stream>.size)) == Z_OK
        else {
            z.deallocate()
            throw PluginError.internalError("zlib failed to start")
        }
        zlib = z
    }

    deinit {
        if let fast { gw_fast_deflate_free(fast) }
        if let zlib {
            deflateEnd(zlib)
            zlib.deallocate()
        }
    }

    /// Compresses all of `input` (and ends the stream when `final`), handing each filled
    /// piece of `output` to `emit`. False when the library reports an error.
    func compress(
        _ input: UnsafeBufferPointer<UInt8>, final: Bool, through output: UnsafeMutableBufferPointer<UInt8>,
        emit: (UnsafeMutableBufferPointer<UInt8>.SubSequence) -> Void
    ) -> Bool {
        guard let outBase = output.baseAddress else { return false }
        if let fast {
            var nextIn: UnsafePointer<UInt8>? = input.baseAddress ?? UnsafePointer(outBase), availIn = input.count
            while true {
                var nextOut: UnsafeMutablePointer<UInt8>? = outBase, availOut = output.count
                let status = gw_fast_deflate_step(fast, &nextIn, &availIn, &nextOut, &availOut, final ? 1 : 0)
                let n = output.count - availOut
                if n > 0 { emit(output[0..<n]) }
                if status < 0 { return false }
                if status == 1 || (!final && availIn == 0 && availOut > 0) { return true }
            }
        }
        guard let zlib else { return false }
        var status: Int32 = Z_OK
        zlib.pointee.next_in = UnsafeMutablePointer(mutating: input.baseAddress)
        zlib.pointee.avail_in = uInt(input.count)
        repeat {
            zlib.pointee.next_out = outBase
            zlib.pointee.avail_out = uInt(output.count)
            status = deflate(zlib, final ? Z_FINISH : Z_NO_FLUSH)
            let n = output.count - Int(zlib.pointee.avail_out)
            if n > 0 { emit(output[0..<n]) }
        } while zlib.pointee.avail_out == 0 || (final && status == Z_OK)
        return status != Z_STREAM_ERROR
    }

    /// Deflates `input` as a run of its own into `out` (grown to the worst case): the stream
    /// is reset first and ends with a sync flush. Returns the bytes written.
    func run(_ input: UnsafeBufferPointer<UInt8>, into out: inout [UInt8]) throws -> Int {
        let capacity = input.count + input.count / 16 + 1024
        if out.count < capacity { out = [UInt8](repeating: 0, count: capacity) }
        return try out.withUnsafeMutableBufferPointer { o in
            guard let outBase = o.baseAddress else { throw PluginError.internalError("no output buffer") }
            if let fast {
                var n = 0
                let status = gw_fast_deflate_run(fast, input.baseAddress ?? UnsafePointer(outBase), input.count, outBase, o.count, &n)
                guard status == 0 else { throw PluginError.internalError("deflate failed (\(status))") }
                return n
            }
            guard let zlib else { throw PluginError.internalError("no deflate stream") }
            guard deflateReset(zlib) == Z_OK else { throw PluginError.internalError("zlib failed to reset") }
            zlib.pointee.next_in = UnsafeMutablePointer(mutating: input.baseAddress)
            zlib.pointee.avail_in = uInt(input.count)
            zlib.pointee.next_out = outBase
            zlib.pointee.avail_out = uInt(o.count)
            // With room for the worst case, one call takes all the input and flushes.
            guard deflate(zlib, Z_SYNC_FLUSH) == Z_OK, zlib.pointee.avail_in == 0, zlib.pointee.avail_out > 0 else {
                throw PluginError.internalError("zlib failed to deflate a run")
            }
            return o.count - Int(zlib.pointee.avail_out)
        }
    }

    var isFast: Bool { fast != nil }
}
