import BloomCore
import BloomGGUF
import BloomPack
import Foundation

/// The hint for a GGUF argument that names a folder: what the folder is and what to run instead.
enum ModelPathHint {
    /// Throws `.invalidArgument` naming the command to run when `path` is a Hugging Face model folder or a PEFT
    /// adapter folder (the GGUF commands take one converted file); anything else is left to the GGUF reader.
    static func requireFile(_ path: String) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
            return
        }
        let has = { (name: String) in
            FileManager.default.fileExists(atPath: (path as NSString).appendingPathComponent(name))
        }
        if has("adapter_config.json") {
            throw BloomError(.invalidArgument, "this is a LoRA adapter folder, not a GGUF file: convert it first "
                             + "(bloomkit convert \(path) -o adapter.gguf) and give it with --lora", path: path)
        }
        if has("config.json") {
            throw BloomError(.invalidArgument, "this is a model folder: convert it first "
                             + "(bloomkit convert \(path) -o model.gguf)", path: path)
        }
    }

    /// Opens a GGUF argument: a GGUF file or the first part of a split set (mapped), or a .bkz of one GGUF file,
    /// decoded into memory and checked, with one line on stderr saying so and how much memory it takes.
    /// - Throws: `requireFile`'s hint for a folder; the GGUF reader's and the .bkz reader's errors.
    static func openGGUF(_ path: String, threads: Int?) throws -> GGUFSplitSet {
        try requireFile(path)
        guard BKZArchive.looksPacked(path) else { return try GGUFSplitSet(path: path) }
        let memory = try BKZArchive(path: path).decodeIntoMemory(threads: threads ?? defaultThreads())
        let set = try GGUFSplitSet(first: GGUFFile(file: memory))
        let line = "loaded from a packed file: \(path) decoded into \(memory.count) bytes of memory "
            + "(\(ByteCount.format(memory.count)))\n"
        FileHandle.standardError.write(Data(line.utf8))
        return set
    }
}
