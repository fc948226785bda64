import BloomCore
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
}
