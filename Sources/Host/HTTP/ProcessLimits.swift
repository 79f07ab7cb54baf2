import Glibc

/// The process's file descriptor limit, raised to its hard maximum at start: every
/// connection, SQLite file and outbound request holds one, and a gateway at its limit stops
/// accepting (and NIO's accept loop spins a core on EMFILE).
enum ProcessLimits {
    /// Descriptors kept for everything but client connections (stores, plugins, outbound HTTP).
    static let reserved = 256

    /// Raises the soft limit to the hard one; returns the soft limit in force.
    @discardableResult
    static func raiseDescriptorLimit() -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 1_024 }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { limit = raised }
        }
        return limit.rlim_cur > rlim_t(Int.max) ? Int.max : Int(limit.rlim_cur)
    }

    /// The connections to accept at once: the configured number, or fewer if the descriptor
    /// limit cannot hold that many beside the reserve.
    static func connectionCap(configured: Int, descriptorLimit: Int) -> Int {
        max(16, min(configured, descriptorLimit - reserved))
    }
}
