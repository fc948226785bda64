import Foundation
import TestSupport

/// Writes zip archives the way torch.save does (stored entries, 64-byte aligned data, optionally ZIP64 everywhere),
/// plus deflated entries made of deflate "stored" blocks (a valid raw deflate stream zlib must inflate).
struct ZipBuilder {
    struct Entry {
        var name: String
        var data: [UInt8]
        var deflate = false
    }

    var entries: [Entry] = []
    /// Use zip64 extra fields and the zip64 end records even though nothing needs them.
    var zip64 = false

    mutating func add(_ name: String, _ data: [UInt8], deflate: Bool = false) {
        entries.append(Entry(name: name, data: data, deflate: deflate))
    }

    static func crc32(_ data: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in data {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
        }
        return ~crc
    }

    /// Raw deflate made of stored blocks (BTYPE 00), at most 65535 bytes each.
    static func deflateStored(_ data: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        var start = 0
        repeat {
            let n = min(65535, data.count - start)
            let final = start + n == data.count
            out.append(final ? 1 : 0)
            out.le(UInt16(n))
            out.le(~UInt16(n))
            out += data[start..<(start + n)]
            start += n
        } while start < data.count
        return out
    }

    func build() -> [UInt8] {
        var out: [UInt8] = []
        var central: [UInt8] = []
        for entry in entries {
            let payload = entry.deflate ? Self.deflateStored(entry.data) : entry.data
            let offset = out.count
            let name = Array(entry.name.utf8)
            var extra: [UInt8] = []
            if zip64 {
                extra.le(UInt16(1)); extra.le(UInt16(16)); extra.le(UInt64(entry.data.count));
                extra.le(UInt64(payload.count))
            }
            // torch's "FB" padding field: data starts on a multiple of 64.
            let unpadded = offset + 30 + name.count + extra.count + 4
            let pad = (64 - unpadded % 64) % 64
            extra.le(UInt16(0x4246)); extra.le(UInt16(pad)); extra += [UInt8](repeating: UInt8(ascii: "Z"), count: pad)
            out.le(UInt32(0x04034b50)); out.le(UInt16(zip64 ? 45 : 20)); out.le(UInt16(0));
            out.le(UInt16(entry.deflate ? 8 : 0))
            out.le(UInt32(0)); out.le(Self.crc32(entry.data))
            out.le(zip64 ? UInt32.max : UInt32(payload.count)); out.le(zip64 ? UInt32.max : UInt32(entry.data.count))
            out.le(UInt16(name.count)); out.le(UInt16(extra.count))
            out += name + extra + payload

            var cdExtra: [UInt8] = []
            if zip64 {
                cdExtra.le(UInt16(1)); cdExtra.le(UInt16(24))
                cdExtra.le(UInt64(entry.data.count)); cdExtra.le(UInt64(payload.count)); cdExtra.le(UInt64(offset))
            }
            central.le(UInt32(0x02014b50)); central.le(UInt16(45)); central.le(UInt16(zip64 ? 45 : 20));
            central.le(UInt16(0))
            central.le(UInt16(entry.deflate ? 8 : 0)); central.le(UInt32(0)); central.le(Self.crc32(entry.data))
            central.le(zip64 ? UInt32.max : UInt32(payload.count));
            central.le(zip64 ? UInt32.max : UInt32(entry.data.count))
            central.le(UInt16(name.count)); central.le(UInt16(cdExtra.count)); central.le(UInt16(0));
            central.le(UInt16(0))
            central.le(UInt16(0)); central.le(UInt32(0)); central.le(zip64 ? UInt32.max : UInt32(offset))
            central += name + cdExtra
        }
        let cdOffset = out.count
        out += central
        if zip64 {
            let recordOffset = out.count
            out.le(UInt32(0x06064b50)); out.le(UInt64(44)); out.le(UInt16(45)); out.le(UInt16(45))
            out.le(UInt32(0)); out.le(UInt32(0)); out.le(UInt64(entries.count)); out.le(UInt64(entries.count))
            out.le(UInt64(central.count)); out.le(UInt64(cdOffset))
            out.le(UInt32(0x07064b50)); out.le(UInt32(0)); out.le(UInt64(recordOffset)); out.le(UInt32(1))
        }
        out.le(UInt32(0x06054b50)); out.le(UInt16(0)); out.le(UInt16(0))
        out.le(zip64 ? UInt16.max : UInt16(entries.count)); out.le(zip64 ? UInt16.max : UInt16(entries.count))
        out.le(zip64 ? UInt32.max : UInt32(central.count)); out.le(zip64 ? UInt32.max : UInt32(cdOffset));
        out.le(UInt16(0))
        return out
    }
}

/// The pickle opcodes both pickle builders of this target (PickleWriter, HostilePickle) write the same way.
protocol PickleOpcodes {
    var bytes: [UInt8] { get set }
}

extension PickleOpcodes {
    mutating func op(_ code: UInt8) { bytes.append(code) }
    /// GLOBAL `module.name`.
    mutating func global(_ module: String, _ name: String) { bytes += [0x63] + Array("\(module)\n\(name)\n".utf8) }
    /// BINUNICODE.
    mutating func string(_ s: String) { bytes.append(0x58); bytes.le(UInt32(s.utf8.count)); bytes += Array(s.utf8) }
    mutating func mark() { op(0x28) }
}

/// Protocol-2 pickle opcodes, written the way CPython's pickler writes a torch state dict.
struct PickleWriter: PickleOpcodes {
    var bytes: [UInt8] = [0x80, 2]

    mutating func int(_ v: Int) {
        if v >= 0, v < 256 { bytes += [0x4B, UInt8(v)] } else if v >= 0,
            v < 65536 { bytes.append(0x4D); bytes.le(UInt16(v)) } else {
            bytes.append(0x4A); bytes.le(Int32(v))
        }
    }
    mutating func tuple(_ items: [Int]) { mark(); items.forEach { int($0) }; op(0x74) }
    mutating func emptyOrderedDict() { global("collections", "OrderedDict"); op(0x29); op(0x52) }

    struct Tensor {
        var name: String
        var storageClass = "FloatStorage"
        var key: String
        var numel: Int
        var offset = 0
        var size: [Int]
        var stride: [Int]
    }

    /// `OrderedDict{name: _rebuild_tensor_v2(...)}` + `{'_metadata': …}` BUILD + STOP.
    static func stateDict(_ tensors: [Tensor]) -> [UInt8] {
        var w = PickleWriter()
        w.emptyOrderedDict()
        w.mark()
        for t in tensors {
            w.string(t.name)
            w.global("torch._utils", "_rebuild_tensor_v2")
            w.mark()
            w.mark(); w.string("storage"); w.global("torch", t.storageClass); w.string(t.key); w.string("cpu");
            w.int(t.numel); w.op(0x74)
            w.op(0x51)  // BINPERSID
            w.int(t.offset)
            w.tuple(t.size)
            w.tuple(t.stride)
            w.op(0x89)  // NEWFALSE
            w.emptyOrderedDict()
            w.op(0x74)
            w.op(0x52)
        }
        w.op(0x75)  // SETITEMS
        w.op(0x7D); w.string("_metadata"); w.emptyOrderedDict(); w.string(""); w.op(0x7D); w.string("version");
        w.int(1); w.op(0x73)
        w.op(0x73); w.op(0x73)  // {'version': 1} into _metadata, _metadata into the state
        w.op(0x62)  // BUILD
        w.op(0x2E)
        return w.bytes
    }
}

/// A torch.save-shaped archive: `<prefix>/data.pkl`, `<prefix>/data/<key>`…, `<prefix>/version`.
func torchArchive(prefix: String = "archive", pickle: [UInt8], storages: [(String, [UInt8])], deflate: Bool = false,
                  zip64: Bool = false, byteorder: String? = "little") -> [UInt8] {
    var zip = ZipBuilder()
    zip.zip64 = zip64
    zip.add(prefix + "/data.pkl", pickle, deflate: deflate)
    if let byteorder { zip.add(prefix + "/byteorder", Array(byteorder.utf8)) }
    for (key, data) in storages { zip.add(prefix + "/data/" + key, data, deflate: deflate) }
    zip.add(prefix + "/version", Array("3\n".utf8))
    return zip.build()
}

/// Little-endian f32 bytes.
func f32Bytes(_ values: [Float]) -> [UInt8] {
    var out: [UInt8] = []
    for v in values { out.le(v.bitPattern) }
    return out
}

/// A valid safetensors file of F32 tensors (values 0, 1, 2, … per tensor), in the given order.
func safetensorsFile(_ tensors: [(name: String, shape: [Int])],
                     metadata: [String: String] = ["format": "pt"]) -> [UInt8] {
    var entries: [String] = []
    var data: [UInt8] = []
    for (name, shape) in tensors {
        let count = shape.reduce(1, *)
        let begin = data.count
        data += f32Bytes((0..<count).map(Float.init))
        entries.append("\"\(name)\":{\"dtype\":\"F32\",\"shape\":[\(shape.map(String.init).joined(separator: ","))]," +
                       "\"data_offsets\":[\(begin),\(data.count)]}")
    }
    let meta = "\"__metadata__\":{"
        + metadata.sorted(by: { $0.key < $1.key }).map { "\"\($0.key)\":\"\($0.value)\"" }.joined(separator: ",") + "}"
    var header = Array(("{" + ([meta] + entries).joined(separator: ",") + "}").utf8)
    while header.count % 8 != 0 { header.append(0x20) }
    var out: [UInt8] = []
    out.le(UInt64(header.count))
    return out + header + data
}
