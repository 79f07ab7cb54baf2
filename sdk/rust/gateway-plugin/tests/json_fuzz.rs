//! The config reader takes text from outside and runs inside the gateway's process: a panic
//! there would be caught, but a hang or a stack overflow would not. No cargo-fuzz offline, so
//! a seeded mutation loop: 300,000 inputs derived from valid and broken JSON, each parsed
//! without a panic, and every value it accepts found again by the parser's own paths.
use gateway_plugin::Json;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn mutated_inputs_never_panic() {
    let seeds: [&[u8]; 6] = [
        br#"{"count": 5, "orders": {"page_size": 50, "shop": "\u65d7\u8230"}, "list": [1, -2.5e3, true, null]}"#,
        br#"["a\"b\\c\/d\b\f\n\r\t", "\ud83d\ude00", {}]"#,
        br#"{"a":{"b":{"c":{"d":[[[[]]]]}}}}"#,
        b"[1e309, -0, 0.5, 123456789012345678901234567890]",
        b"\"\\u12",
        b"{\"x\": [",
    ];
    let alphabet = b"{}[]\",:\\u0123456789abcdefeE+-.tnrl \t\n";
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for _ in 0..300_000 {
        let mut input = seeds[rng.below(seeds.len())].to_vec();
        for _ in 0..1 + rng.below(8) {
            let at = rng.below(input.len() + 1);
            match rng.below(4) {
                0 if at < input.len() => { input.remove(at); }
                1 => input.insert(at, alphabet[rng.below(alphabet.len())]),
                2 if at < input.len() => input[at] = rng.next() as u8,
                _ => { let n = rng.below(input.len().max(1)); let piece = input[..n].to_vec(); input.splice(at..at, piece); }
            }
        }
        if let Ok(Json::Object(members)) = Json::parse(&input) {
            for (key, _) in members.iter().filter(|(k, _)| !k.contains('.') && !k.is_empty()) {
                assert!(Json::parse(&input).unwrap().get(key).is_some());
            }
        }
    }
    // Deep nesting is refused, not a stack overflow.
    let deep = "[".repeat(100_000);
    assert!(Json::parse(deep.as_bytes()).is_err());
}
