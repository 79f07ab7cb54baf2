/// A minimal FlatBuffers encoder for the Arrow IPC metadata (Message, Schema, RecordBatch).
/// Objects are laid out front to back: a parent before its children, whose offsets are
/// patched in once they are placed (FlatBuffers offsets point forward, vtables backward).
indirect enum FlatNode {
    /// Fields by their id in the schema; nil for an absent field.
    case table([FlatField?])
    case string(String)
    case tables([FlatNode])
    /// Structs of `elementSize` bytes each, 8-aligned (FieldNode, Buffer).
    case structs(bytes: [UInt8], count: Int)
}

enum FlatField {
    case u8(UInt8)
    case bool(Bool)
    case i16(Int16)
    case i32(Int32)
    case i64(Int64)
    case offset(FlatNode)

    var size: Int {
        switch self {
        case .u8, .bool: 1
        case .i16: 2
        case .i32, .offset: 4
        case .i64: 8
        }
    }
}

struct FlatBufferWriter {
    private(set) var bytes: [UInt8] = []

    /// Encodes `root` as a finished buffer, padded to a multiple of 8 bytes.
    static func encode(_ root: FlatNode) -> [UInt8] {
        var w = FlatBufferWriter()
        w.bytes = [0, 0, 0, 0]  // root uoffset
        let rootPosition = w.write(root)
        w.patch(at: 0, UInt32(rootPosition))
        w.pad(to: 8)
        return w.bytes
    }

    private mutating func pad(to alignment: Int) {
        while bytes.count % alignment != 0 { bytes.append(0) }
    }

    private mutating func put<T: FixedWidthInteger>(_ v: T) {
        withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) }
    }

    private mutating func patch(at position: Int, _ v: UInt32) {
        withUnsafeBytes(of: v.littleEndian) { raw in
            for i in 0..<4 { bytes[position + i] = raw[i] }
        }
    }

    /// Places `node`; returns the position its referrers point at.
    private mutating func write(_ node: FlatNode) -> Int {
        switch node {
        case .string(let s):
            pad(to: 4)
            let position = bytes.count
            put(UInt32(s.utf8.count))
            bytes.append(contentsOf: s.utf8)
            bytes.append(0)
            return position
        case .structs(let data, let count):
            // The elements after the length must be 8-aligned.
            while (bytes.count + 4) % 8 != 0 { bytes.append(0) }
            let position = bytes.count
            put(UInt32(count))
            bytes.append(contentsOf: data)
            return position
        case .tables(let items):
            pad(to: 4)
            let position = bytes.count
            put(UInt32(items.count))
            let slots = bytes.count
            bytes.append(contentsOf: [UInt8](repeating: 0, count: 4 * items.count))
            for (i, item) in items.enumerated() {
                let target = write(item)
                patch(at: slots + 4 * i, UInt32(target - (slots + 4 * i)))
            }
            return position
        case .table(let fields):
            return writeTable(fields)
        }
    }

    private mutating func writeTable(_ fields: [FlatField?]) -> Int {
        // Lay out the inline part: the vtable soffset, then fields from largest to smallest
        // (no padding between them), relative to a table start that is 8-aligned.
        var layout: [(id: Int, field: FlatField, at: Int)] = []
        var size = 4
        var present: [(id: Int, field: FlatField)] = []
        for (id, field) in fields.enumerated() {
            if let field { present.append((id, field)) }
        }
        for (id, field) in present.sorted(by: { $0.field.size > $1.field.size }) {
            while size % field.size != 0 { size += 1 }
            layout.append((id, field, size))
            size += field.size
        }
        // The vtable, then the table.
        pad(to: 2)
        let vtable = bytes.count
        put(UInt16(4 + 2 * fields.count))
        put(UInt16(size))
        for id in 0..<fields.count {
            put(UInt16(layout.first { $0.id == id }?.at ?? 0))
        }
        pad(to: 8)
        let table = bytes.count
        put(Int32(table - vtable))
        bytes.append(contentsOf: [UInt8](repeating: 0, count: size - 4))
        var children: [(slot: Int, node: FlatNode)] = []
        for (_, field, at) in layout {
            let p = table + at
            switch field {
            case .u8(let v): bytes[p] = v
            case .bool(let v): bytes[p] = v ? 1 : 0
            case .i16(let v): withUnsafeBytes(of: v.littleEndian) { for i in 0..<2 { bytes[p + i] = $0[i] } }
            case .i32(let v): withUnsafeBytes(of: v.littleEndian) { for i in 0..<4 { bytes[p + i] = $0[i] } }
            case .i64(let v): withUnsafeBytes(of: v.littleEndian) { for i in 0..<8 { bytes[p + i] = $0[i] } }
            case .offset(let node): children.append((p, node))
            }
        }
        for (slot, node) in children {
            let target = write(node)
            patch(at: slot, UInt32(target - slot))
        }
        return table
    }
}
