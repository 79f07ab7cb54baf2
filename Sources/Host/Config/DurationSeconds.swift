extension Duration {
    /// The duration in seconds, as a Double (for Dispatch deadlines, sleeps and metrics).
    var timeInterval: Double {
        let (whole, atto) = components
        return Double(whole) + Double(atto) / 1e18
    }
}
