import Hummingbird

/// A request's query string decoded the way clients encode it: `application/x-www-form-urlencoded`
/// rules for keys and values alike (`%24x` is `$x`, `+` is a space), pairs in order, a key
/// repeated for several values. Python's `requests`, browsers and curl all encode this way.
struct QueryString: Sendable {
    let pairs: [(key: String, value: String)]

    init(_ request: Request) {
        self.init(request.uri.query ?? "")
    }

    init(_ query: String) {
        var text = query
        pairs = text.withUTF8 { bytes in
            // A request head is at most 16 KB (the server's decoder limit): no cap needed here.
            (FormFields.pairs(UnsafeRawBufferPointer(bytes)) ?? []).map {
                (String(decoding: $0.key, as: UTF8.self), String(decoding: $0.value, as: UTF8.self))
            }
        }
    }

    /// The first value of `key`.
    subscript(_ key: String) -> String? {
        pairs.first { $0.key == key }?.value
    }
}

extension Request {
    var query: QueryString { QueryString(self) }
}
