// A restricted reader for the protocol-2 pickle of a torch.save'd state dict (`data.pkl`). It interprets opcodes into
// plain values and NEVER calls anything: "callables" are an allow-list of four GLOBAL names whose effect is modelled
// here (build an empty OrderedDict, rebuild a tensor record, unwrap a Parameter, name a storage dtype). The opcode set
// is that of torch's weights_only unpickler (torch/_weights_only_unpickler.py) minus what a state dict never needs.
//
// What a state dict pickle looks like (CPython protocol 2 + torch's reducers):
//   PROTO 2; GLOBAL 'collections OrderedDict'; EMPTY_TUPLE; REDUCE           → the dict (or EMPTY_DICT for a
//                                                                              plain dict)
//   MARK; key; value; …; SETITEMS (≤ 1000 pairs per batch; one pair uses SETITEM)
//   value = GLOBAL 'torch._utils _rebuild_tensor_v2'; MARK; storage; offset; size tuple; stride tuple; requires_grad;
//           backward_hooks (an empty OrderedDict) [; metadata dict]; TUPLE; REDUCE
//   storage = MARK 'storage' GLOBAL 'torch FloatStorage' key location numel TUPLE; BINPERSID  (numel in elements)
//   then EMPTY_DICT {'_metadata': OrderedDict(…)} BUILD; STOP. BINPUT/BINGET memoize and reuse everything.
//
// Safety: no value can refer to itself (a container becomes immutable once nested, so no cycles), nesting is
// bounded (values are freed recursively), and the stack, memo and containers have named limits.
import BloomCore

/// A tensor as the pickle describes it (`_rebuild_tensor_v2` arguments); the bytes live in the archive's
/// `data/<storageKey>` record.
public struct TorchTensorRecord: Sendable, Equatable {
    /// torch storage class → dtype (safetensors spelling).
    public let dtype: DType
    public let storageKey: String
    /// Elements in the whole storage.
    public let storageElements: Int
    /// Where the tensor lived when saved ("cpu", "cuda:0").
    public let location: String
    /// In elements.
    public let storageOffset: Int
    /// Outermost first.
    public let shape: [Int]
    /// In elements, one per dimension.
    public let strides: [Int]
}

/// Reads a state-dict pickle into `[(name, TorchTensorRecord)]` in pickle order.
struct RestrictedUnpickler {
    /// A state dict's pickle is kilobytes per thousand tensors; 256 MiB is far beyond any real one.
    static let maxPickleBytes = 256 << 20
    /// Values on the stack at once (a SETITEMS batch holds ≤ 2000 plus a few).
    static let maxStackDepth = 1 << 20
    /// Memo slots (each BINPUT takes one; real pickles use a few per tensor).
    static let maxMemoEntries = 1 << 22
    /// Items in one container (BLOOM-176B has under 1000 tensors).
    static let maxContainerItems = 1 << 22
    /// Nesting of values (a state dict needs 4: dict → _metadata → module dict → version).
    static let maxNesting = 32
    /// Dimensions of one tensor.
    static let maxRank = 64

    /// The storage classes a state dict uses (torch/storage.py `_dtype_to_storage_type_map`), by GLOBAL name.
    static let storageTypes: [String: DType] = [
        "DoubleStorage": .F64, "FloatStorage": .F32, "HalfStorage": .F16, "BFloat16Storage": .BF16,
        "LongStorage": .I64, "IntStorage": .I32, "ShortStorage": .I16, "CharStorage": .I8, "ByteStorage": .U8,
        "BoolStorage": .BOOL, "ComplexFloatStorage": .C64,
    ]

    // MARK: values

    private enum Callable: Equatable {
        case orderedDict, rebuildTensorV2, rebuildParameter
        case storageType(DType)
    }

    /// A mutable container (dict, OrderedDict or list). Once nested inside another value it is frozen, so no
    /// container can contain itself and its depth never changes after it is counted in a parent.
    private final class Container {
        enum Kind { case dict, list }
        let kind: Kind
        var items: [Value] = []          // lists
        var pairs: [(key: Value, value: Value)] = []  // dicts, insertion order
        var index: [String: Int] = [:]   // key description → position in `pairs`
        var depth = 1
        var frozen = false
        init(_ kind: Kind) { self.kind = kind }
    }

    private indirect enum Value {
        case none
        case bool(Bool)
        case int(Int)
        case float(Double)
        case string(String)
        case tuple([Value], depth: Int)
        case container(Container)
        case callable(Callable)
        case storage(dtype: DType, key: String, elements: Int, location: String)
        case tensor(TorchTensorRecord)

        var depth: Int {
            switch self {
            case .tuple(_, let d): return d
            case .container(let c): return c.depth
            default: return 1
            }
        }

        var typeName: String {
            switch self {
            case .none: return "None"
            case .bool: return "bool"
            case .int: return "int"
            case .float: return "float"
            case .string: return "str"
            case .tuple: return "tuple"
            case .container(let c): return c.kind == .dict ? "dict" : "list"
            case .callable: return "global"
            case .storage: return "storage"
            case .tensor: return "tensor"
            }
        }
    }

    // MARK: state

    private var reader: ByteReader
    private var stack: [Value] = []
    private var marks: [Int] = []
    private var memo: [UInt32: Value] = [:]
    private var opcodeOffset = 0

    private init(_ bytes: UnsafeRawBufferPointer) {
        reader = ByteReader(bytes)
    }

    /// Interprets `bytes` (a `data.pkl`) and returns the state dict's tensors in order.
    /// - Throws: `.pickleForbiddenOpcode` / `.pickleForbiddenGlobal` naming the opcode or global and its offset,
    ///   `.pickleMalformed` for anything a state dict would not contain, `.limitExceeded` past a named limit.
    static func stateDict(from bytes: UnsafeRawBufferPointer) throws -> [(name: String, tensor: TorchTensorRecord)] {
        guard bytes.count <= maxPickleBytes else {
            throw BloomError(.limitExceeded, "pickle of \(bytes.count) bytes is past the limit of \(maxPickleBytes)")
        }
        var machine = RestrictedUnpickler(bytes)
        let result = try machine.run()
        guard case .container(let dict) = result, dict.kind == .dict else {
            throw BloomError(.pickleMalformed, "the pickle holds a \(result.typeName), not a state dict")
        }
        return try dict.pairs.map { pair in
            guard case .string(let name) = pair.key else {
                throw BloomError(.pickleMalformed, "state dict key of type \(pair.key.typeName) is not a tensor name")
            }
            guard case .tensor(let tensor) = pair.value else {
                throw BloomError(.pickleMalformed,
                                 "state dict entry '\(name)' is a \(pair.value.typeName), not a tensor")
            }
            return (name, tensor)
        }
    }

    // MARK: the machine

    private func malformed(_ message: String) -> BloomError {
        BloomError(.pickleMalformed, message, location: "pickle offset \(opcodeOffset)")
    }

    private mutating func push(_ value: Value) throws {
        guard stack.count < Self.maxStackDepth else {
            throw BloomError(.limitExceeded, "pickle stack deeper than \(Self.maxStackDepth) values",
                             location: "pickle offset \(opcodeOffset)")
        }
        stack.append(value)
    }

    private mutating func pop(_ what: String) throws -> Value {
        guard let value = stack.popLast(), stack.count >= (marks.last ?? 0) else {
            throw malformed("\(what) needs a value but the stack is empty")
        }
        return value
    }

    private mutating func popMark(_ what: String) throws -> [Value] {
        guard let mark = marks.popLast() else { throw malformed("\(what) without a MARK") }
        let items = Array(stack[mark...])
        stack.removeSubrange(mark...)
        return items
    }

    private func top(_ what: String) throws -> Value {
        guard let value = stack.last, stack.count > (marks.last ?? 0) else {
            throw malformed("\(what) needs a value but the stack is empty")
        }
        return value
    }

    /// Freezes a container that is about to be nested and returns the depth its parent needs, within the bound.
    private func nest(_ child: Value) throws -> Int {
        if case .container(let c) = child { c.frozen = true }
        let depth = child.depth + 1
        guard depth <= Self.maxNesting else {
            throw BloomError(.limitExceeded, "values nested deeper than \(Self.maxNesting) levels",
                             location: "pickle offset \(opcodeOffset)")
        }
        return depth
    }

    private func tuple(_ items: [Value]) throws -> Value {
        var depth = 1
        for item in items { depth = max(depth, try nest(item)) }
        return .tuple(items, depth: depth)
    }

    private func mutableContainer(_ value: Value, _ kind: Container.Kind, _ op: String) throws -> Container {
        guard case .container(let c) = value, c.kind == kind else {
            throw malformed("\(op) applied to a \(value.typeName)")
        }
        guard !c.frozen else {
            throw malformed("\(op) changes a \(value.typeName) that is already nested in another value")
        }
        return c
    }

    private func setItems(_ dict: Container, _ flat: [Value]) throws {
        guard flat.count % 2 == 0 else { throw malformed("SETITEMS with an odd number of values") }
        for k in stride(from: 0, to: flat.count, by: 2) {
            let key = flat[k], value = flat[k + 1]
            let keyText: String
            switch key {
            case .string(let s): keyText = "s" + s
            case .int(let i): keyText = "i\(i)"
            default: throw malformed("dict key of type \(key.typeName)")
            }
            let depth = max(try nest(key), try nest(value))
            guard !dict.frozen else { throw malformed("a dict is inserted into itself") }
            if let position = dict.index[keyText] {
                dict.pairs[position].value = value
            } else {
                guard dict.pairs.count < Self.maxContainerItems else {
                    throw BloomError(.limitExceeded, "dict with more than \(Self.maxContainerItems) items",
                                     location: "pickle offset \(opcodeOffset)")
                }
                dict.index[keyText] = dict.pairs.count
                dict.pairs.append((key, value))
            }
            dict.depth = max(dict.depth, depth)
        }
    }

    private func append(_ list: Container, _ items: [Value]) throws {
        guard list.items.count + items.count <= Self.maxContainerItems else {
            throw BloomError(.limitExceeded, "list with more than \(Self.maxContainerItems) items",
                             location: "pickle offset \(opcodeOffset)")
        }
        var depth = list.depth
        for item in items { depth = max(depth, try nest(item)) }
        guard !list.frozen else { throw malformed("a list is appended to itself") }
        list.items.append(contentsOf: items)
        list.depth = depth
    }

    private mutating func memoPut(_ index: UInt32) throws {
        let value = try top("BINPUT")
        guard memo[index] != nil || memo.count < Self.maxMemoEntries else {
            throw BloomError(.limitExceeded, "more than \(Self.maxMemoEntries) memo entries",
                             location: "pickle offset \(opcodeOffset)")
        }
        memo[index] = value
    }

    private mutating func memoGet(_ index: UInt32) throws {
        guard let value = memo[index] else { throw malformed("BINGET of memo slot \(index), which was never set") }
        try push(value)
    }

    private mutating func readLine(_ what: String) throws -> String {
        // GLOBAL's module and name: printable ASCII identifiers, bounded.
        var bytes: [UInt8] = []
        while true {
            let c = try reader.read(UInt8.self, what)
            if c == 0x0A { break }
            guard c >= 0x20, c < 0x7F, bytes.count < 256 else {
                throw malformed("\(what) is not a short printable line")
            }
            bytes.append(c)
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private func resolveGlobal(module: String, name: String) throws -> Callable {
        switch (module, name) {
        case ("collections", "OrderedDict"): return .orderedDict
        case ("torch._utils", "_rebuild_tensor_v2"): return .rebuildTensorV2
        case ("torch._utils", "_rebuild_parameter"): return .rebuildParameter
        case ("torch", _):
            if let dtype = Self.storageTypes[name] { return .storageType(dtype) }
        default: break
        }
        throw BloomError(.pickleForbiddenGlobal,
                         "the pickle references '\(module).\(name)', which is not allowed (only " +
                         "collections.OrderedDict, torch._utils._rebuild_tensor_v2, torch._utils._rebuild_parameter " +
                         "and torch storage classes are); nothing was executed",
                         location: "pickle offset \(opcodeOffset)")
    }

    private mutating func run() throws -> Value {
        while true {
            opcodeOffset = reader.offset
            let op = try reader.read(UInt8.self, "opcode")
            switch op {
            case 0x80:  // PROTO
                let version = try reader.read(UInt8.self, "PROTO version")
                guard version <= 2 else {
                    throw BloomError(.pickleForbiddenOpcode,
                                     "pickle protocol \(version) is not read (torch.save writes protocol 2)",
                                     location: "pickle offset \(opcodeOffset)")
                }
            case 0x2E:  // STOP
                let result = try pop("STOP")
                guard stack.isEmpty, marks.isEmpty else {
                    throw malformed("STOP with \(stack.count) values left on the stack")
                }
                return result
            case 0x63:  // GLOBAL
                let module = try readLine("GLOBAL module")
                let name = try readLine("GLOBAL name")
                try push(.callable(try resolveGlobal(module: module, name: name)))
            case 0x52:  // REDUCE
                let args = try pop("REDUCE")
                let callable = try pop("REDUCE")
                try push(try reduce(callable, args))
            case 0x62:  // BUILD
                let state = try pop("BUILD")
                let target = try top("BUILD")
                // Only an OrderedDict's instance dict ({'_metadata': …}) is built; it carries no tensor data.
                guard case .container(let c) = target, c.kind == .dict, case .container(let s) = state,
                      s.kind == .dict else {
                    throw malformed("BUILD of a \(target.typeName) with a \(state.typeName) state")
                }
                _ = try nest(state)
            case 0x28:  // MARK
                guard marks.count < Self.maxStackDepth else {
                    throw BloomError(.limitExceeded, "more than \(Self.maxStackDepth) open MARKs",
                                     location: "pickle offset \(opcodeOffset)")
                }
                marks.append(stack.count)
            case 0x74:  // TUPLE
                try push(try tuple(try popMark("TUPLE")))
            case 0x85:  // TUPLE1
                let a = try pop("TUPLE1")
                try push(try tuple([a]))
            case 0x86:  // TUPLE2
                let b = try pop("TUPLE2"), a = try pop("TUPLE2")
                try push(try tuple([a, b]))
            case 0x87:  // TUPLE3
                let c = try pop("TUPLE3"), b = try pop("TUPLE3"), a = try pop("TUPLE3")
                try push(try tuple([a, b, c]))
            case 0x29:  // EMPTY_TUPLE
                try push(.tuple([], depth: 1))
            case 0x5D:  // EMPTY_LIST
                try push(.container(Container(.list)))
            case 0x61:  // APPEND
                let item = try pop("APPEND")
                try append(try mutableContainer(try top("APPEND"), .list, "APPEND"), [item])
            case 0x65:  // APPENDS
                let items = try popMark("APPENDS")
                try append(try mutableContainer(try top("APPENDS"), .list, "APPENDS"), items)
            case 0x7D:  // EMPTY_DICT
                try push(.container(Container(.dict)))
            case 0x73:  // SETITEM
                let value = try pop("SETITEM"), key = try pop("SETITEM")
                try setItems(try mutableContainer(try top("SETITEM"), .dict, "SETITEM"), [key, value])
            case 0x75:  // SETITEMS
                let flat = try popMark("SETITEMS")
                try setItems(try mutableContainer(try top("SETITEMS"), .dict, "SETITEMS"), flat)
            case 0x4E: try push(.none)            // NONE
            case 0x88: try push(.bool(true))      // NEWTRUE
            case 0x89: try push(.bool(false))     // NEWFALSE
            case 0x4A: try push(.int(Int(try reader.read(Int32.self, "BININT"))))
            case 0x4B: try push(.int(Int(try reader.read(UInt8.self, "BININT1"))))
            case 0x4D: try push(.int(Int(try reader.read(UInt16.self, "BININT2"))))
            case 0x8A:  // LONG1: n bytes, little-endian two's complement
                let n = Int(try reader.read(UInt8.self, "LONG1 length"))
                guard n <= 8 else { throw malformed("LONG1 of \(n) bytes does not fit 64 bits") }
                let raw = try reader.readBytes(n, "LONG1")
                var v: UInt64 = 0
                for (k, byte) in raw.enumerated() { v |= UInt64(byte) << (8 * UInt64(k)) }
                if n > 0, n < 8, raw[n - 1] & 0x80 != 0 { v |= ~0 << (8 * UInt64(n)) }  // sign-extend
                try push(.int(Int(Int64(bitPattern: v))))
            case 0x47:  // BINFLOAT (big-endian)
                try push(.float(Double(bitPattern: try reader.readBigEndian(UInt64.self, "BINFLOAT"))))
            case 0x58:  // BINUNICODE
                let n = Int(try reader.read(UInt32.self, "BINUNICODE length"))
                try push(.string(try reader.readUTF8(n, "BINUNICODE")))
            case 0x55:  // SHORT_BINSTRING (protocol-2 str; ASCII in practice)
                let n = Int(try reader.read(UInt8.self, "SHORT_BINSTRING length"))
                try push(.string(String(decoding: try reader.readBytes(n, "SHORT_BINSTRING"), as: UTF8.self)))
            case 0x51:  // BINPERSID
                try push(try persistentStorage(try pop("BINPERSID")))
            case 0x71: try memoPut(UInt32(try reader.read(UInt8.self, "BINPUT")))
            case 0x72: try memoPut(try reader.read(UInt32.self, "LONG_BINPUT"))
            case 0x68: try memoGet(UInt32(try reader.read(UInt8.self, "BINGET")))
            case 0x6A: try memoGet(try reader.read(UInt32.self, "LONG_BINGET"))
            default:
                let name = Self.opcodeNames[op].map { " (\($0))" } ?? ""
                throw BloomError(.pickleForbiddenOpcode,
                                 "pickle opcode 0x\(String(op, radix: 16))\(name) is not allowed in a state dict; " +
                                 "nothing was executed",
                                 location: "pickle offset \(opcodeOffset)")
            }
        }
    }

    /// `('storage', torch.<X>Storage, key, location, numel)` → a storage reference.
    private func persistentStorage(_ pid: Value) throws -> Value {
        guard case .tuple(let items, _) = pid, items.count == 5, case .string("storage") = items[0] else {
            throw malformed("persistent id is not ('storage', class, key, location, numel)")
        }
        guard case .callable(.storageType(let dtype)) = items[1] else {
            throw malformed("persistent id names a \(items[1].typeName), not a torch storage class")
        }
        guard case .string(let key) = items[2], Paths.isSafeRelative(key), !key.contains("/") else {
            throw malformed("storage key is not a plain record name")
        }
        guard case .string(let location) = items[3] else {
            throw malformed("storage location of '\(key)' is not a string")
        }
        guard case .int(let numel) = items[4], numel >= 0 else {
            throw malformed("element count of storage '\(key)' is not a non-negative int")
        }
        return .storage(dtype: dtype, key: key, elements: numel, location: location)
    }

    private func reduce(_ callable: Value, _ args: Value) throws -> Value {
        guard case .callable(let f) = callable else {
            throw malformed("REDUCE on a \(callable.typeName), not an allowed global")
        }
        guard case .tuple(let a, _) = args else {
            throw malformed("REDUCE arguments are a \(args.typeName), not a tuple")
        }
        switch f {
        case .orderedDict:
            guard a.isEmpty else { throw malformed("OrderedDict called with \(a.count) arguments") }
            return .container(Container(.dict))
        case .rebuildParameter:
            // (data, requires_grad, backward_hooks): the Parameter is its tensor.
            guard a.count == 3, case .tensor = a[0], case .bool = a[1] else {
                throw malformed("_rebuild_parameter arguments are not (tensor, bool, hooks)")
            }
            return a[0]
        case .rebuildTensorV2:
            return .tensor(try rebuildTensor(a))
        case .storageType:
            throw malformed("a storage class is called directly")
        }
    }

    /// `_rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])`.
    private func rebuildTensor(_ a: [Value]) throws -> TorchTensorRecord {
        guard a.count == 6 || a.count == 7 else {
            throw malformed("_rebuild_tensor_v2 called with \(a.count) arguments")
        }
        guard case .storage(let dtype, let key, let elements, let location) = a[0] else {
            throw malformed("_rebuild_tensor_v2's first argument is a \(a[0].typeName), not a storage")
        }
        guard case .int(let offset) = a[1], offset >= 0 else {
            throw malformed("storage offset of '\(key)' is not a non-negative int")
        }
        let shape = try intTuple(a[2], "size"), strides = try intTuple(a[3], "stride")
        guard shape.count == strides.count, shape.count <= Self.maxRank else {
            throw malformed("tensor of storage '\(key)' has \(shape.count) sizes and \(strides.count) strides")
        }
        guard case .bool = a[4] else { throw malformed("requires_grad is a \(a[4].typeName)") }
        guard case .container(let hooks) = a[5], hooks.kind == .dict, hooks.pairs.isEmpty else {
            throw malformed("tensor of storage '\(key)' has backward hooks")
        }
        if a.count == 7 {
            // Set only for conjugate/negative-bit views, whose stored values are not the tensor's values.
            guard case .container(let metadata) = a[6], metadata.kind == .dict, metadata.pairs.isEmpty else {
                throw BloomError(.torchTensor,
                                 "tensor of storage '\(key)' carries conj/neg metadata, which bloomkit does not apply",
                                 location: "pickle offset \(opcodeOffset)")
            }
        }
        return TorchTensorRecord(dtype: dtype, storageKey: key, storageElements: elements, location: location,
                                 storageOffset: offset,
                             shape: shape, strides: strides)
    }

    private func intTuple(_ v: Value, _ what: String) throws -> [Int] {
        guard case .tuple(let items, _) = v else { throw malformed("tensor \(what) is a \(v.typeName), not a tuple") }
        return try items.map {
            guard case .int(let i) = $0, i >= 0 else {
                throw malformed("tensor \(what) holds a \($0.typeName) that is not a non-negative int")
            }
            return i
        }
    }

    /// Names of the opcodes refused above, for error messages.
    private static let opcodeNames: [UInt8: String] = [
        0x30: "POP", 0x31: "POP_MARK", 0x32: "DUP", 0x46: "FLOAT", 0x49: "INT", 0x4C: "LONG", 0x50: "PERSID",
        0x53: "STRING", 0x54: "BINSTRING", 0x56: "UNICODE", 0x64: "DICT", 0x67: "GET", 0x69: "INST", 0x6C: "LIST",
        0x6F: "OBJ", 0x70: "PUT", 0x81: "NEWOBJ", 0x82: "EXT1", 0x83: "EXT2", 0x84: "EXT4", 0x8B: "LONG4",
        0x8C: "SHORT_BINUNICODE", 0x8D: "BINUNICODE8", 0x8E: "BINBYTES8", 0x8F: "EMPTY_SET", 0x90: "ADDITEMS",
        0x91: "FROZENSET", 0x92: "NEWOBJ_EX", 0x93: "STACK_GLOBAL", 0x94: "MEMOIZE", 0x95: "FRAME",
        0x96: "BYTEARRAY8", 0x97: "NEXT_BUFFER", 0x98: "READONLY_BUFFER", 0x42: "BINBYTES", 0x43: "SHORT_BINBYTES",
    ]
}
