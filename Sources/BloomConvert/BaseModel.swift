import BloomCheckpoint
import BloomCore
import BloomPack

/// A base model as convert and merge read it, opened through one door: a Hugging Face model folder (hub id, cache
/// folder), or a .bkz of one read in place (`PackedModel`: tensors decoded chunk by chunk as rows are read).
struct BaseModel {
    /// Config, tokenizer and card files, and the weights' names, dtypes and shapes.
    let folder: ModelFolder
    /// `folder.tensors` as streams, same order and names; rows are read once, front to back, and the pages behind
    /// them handed back, so resident memory stays near one chunk.
    let tensors: [SourceTensor]
    /// The path as given, a .bkz standing for the folder it packs (`unpack`'s output name: without `.bkz`): what an
    /// adapter's `base_model_name_or_path` is compared with.
    let unpackedPath: String

    /// - Throws: reader errors naming the file; for a .bkz, its `bkz-*` errors and `.unsupported` when it does not
    ///   hold a model folder with safetensors weights.
    static func open(_ path: String) throws -> BaseModel {
        if BKZArchive.looksPacked(path) || path.hasSuffix(".bkz") {  // a named .bkz: the archive's own errors
            let packed = try PackedModel(path: path)
            let unpacked = path.hasSuffix(".bkz") ? String(path.dropLast(".bkz".count)) : path
            return BaseModel(folder: packed.folder, tensors: packed.tensors, unpackedPath: unpacked)
        }
        let folder = try ModelFolder(path: path)
        return BaseModel(folder: folder, tensors: folder.tensors.map(SourceTensor.releasingPages), unpackedPath: path)
    }
}
