extension String {
    /// The text cut to at most `maxBytes` bytes of UTF-8 (at a character's edge) with "…"
    /// after it, or the text itself when it fits. For messages from outside (a plugin's, a
    /// destination's) that go into a log line or a stored field.
    public func bounded(toUTF8Bytes maxBytes: Int) -> String {
        guard utf8.count > maxBytes else { return self }
        var end = utf8.index(utf8.startIndex, offsetBy: max(0, maxBytes))
        while end.samePosition(in: unicodeScalars) == nil { end = utf8.index(before: end) }
        return String(unicodeScalars[..<end]) + "…"
    }
}
