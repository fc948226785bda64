// The Hugging Face hub cache (huggingface_hub file_download.py), read offline:
//   <cache>/models--ORG--NAME/refs/main            the commit hash the `main` branch pointed at when downloaded
//   <cache>/models--ORG--NAME/snapshots/<hash>/…   the repository's files (symlinks into blobs/)
// <cache> is $HF_HUB_CACHE, else $HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub, else ~/.cache/huggingface/hub.
import BloomCore
import Foundation

/// Turns what a user typed (a folder, a file, a hub id `ORG/NAME`, or a `models--ORG--NAME` cache folder) into a
/// local path, without any network access.
public enum HubCache {
    /// The cache folders searched for hub ids, in order.
    public static func cacheFolders(environment: [String: String] = ProcessInfo.processInfo.environment) -> [String] {
        var folders: [String] = []
        if let v = environment["HF_HUB_CACHE"], !v.isEmpty { folders.append(v) }
        if let v = environment["HF_HOME"], !v.isEmpty { folders.append(Paths.join(v, "hub")) }
        if let v = environment["XDG_CACHE_HOME"], !v.isEmpty { folders.append(Paths.join(v, "huggingface/hub")) }
        if let home = environment["HOME"], !home.isEmpty { folders.append(Paths.join(home, ".cache/huggingface/hub")) }
        return folders
    }

    /// Resolves `spec` to a local file or folder.
    /// - Parameters:
    ///   - spec: an existing path (returned as is, unless it is a `models--ORG--NAME` cache folder, which resolves to
    ///     its snapshot), or a hub id `ORG/NAME` looked up in `cacheFolders`.
    /// - Returns: the path to read.
    /// - Throws: `.hubCache` when a hub id is not in any cache or a cache folder has no usable snapshot; `.missingFile`
    ///   when `spec` is neither a path nor a hub id.
    public static func resolve(_ spec: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> String {
        if FileManager.default.fileExists(atPath: spec) {
            if Paths.isDirectory(spec), Paths.basename(spec).hasPrefix("models--"),
               Paths.isDirectory(Paths.join(spec, "snapshots")) {
                return try snapshot(of: spec)
            }
            return spec
        }
        let parts = spec.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, parts.allSatisfy(isHubNamePart) else {
            throw BloomError(.missingFile, "no such file or folder", path: spec)
        }
        let folderName = "models--\(parts[0])--\(parts[1])"
        let searched = cacheFolders(environment: environment)
        for cache in searched {
            let repo = Paths.join(cache, folderName)
            if Paths.isDirectory(repo) { return try snapshot(of: repo) }
        }
        throw BloomError(.hubCache,
                         "'\(spec)' is not a local path and not in the hub cache (looked for \(folderName) in \(searched.joined(separator: ", "))); bloomkit works offline: download it first, e.g. huggingface-cli download \(spec)",
                         path: spec)
    }

    /// `snapshots/<refs/main>` of a cache folder, or its only snapshot when refs/main is absent.
    public static func snapshot(of repo: String) throws -> String {
        let snapshots = Paths.join(repo, "snapshots")
        let refPath = Paths.join(repo, "refs/main")
        if Paths.isFile(refPath) {
            let file = try MappedFile(path: refPath)
            guard file.count <= 256 else {
                throw BloomError(.hubCache, "refs/main is \(file.count) bytes, not a commit hash", path: refPath)
            }
            let rev = String(decoding: file.bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            guard !rev.isEmpty, !rev.contains("/"), rev != "..", rev != "." else {
                throw BloomError(.hubCache, "refs/main does not hold a commit hash", path: refPath)
            }
            let folder = Paths.join(snapshots, rev)
            guard Paths.isDirectory(folder) else {
                throw BloomError(.hubCache, "refs/main points at snapshot \(rev), which is not in the cache", path: repo)
            }
            return folder
        }
        let revs = ((try? FileManager.default.contentsOfDirectory(atPath: snapshots)) ?? []).filter { !$0.hasPrefix(".") }
        guard revs.count == 1 else {
            throw BloomError(.hubCache, "no refs/main and \(revs.count) snapshots: pass the snapshot folder itself", path: repo)
        }
        return Paths.join(snapshots, revs[0])
    }

    /// How a model or adapter is named in a file people share: the repository id `ORG/NAME` of a hub-cache snapshot
    /// (`…/models--ORG--NAME/snapshots/REV[/…]`), never the snapshot's hash; otherwise the folder's own name. Never a
    /// path: nothing of the machine that made the file.
    public static func publicName(of path: String) -> String {
        let components = URL(fileURLWithPath: path).standardized.pathComponents
        for (i, component) in components.enumerated() where component.hasPrefix("models--")
            && i + 2 < components.count && components[i + 1] == "snapshots" {
            let id = component.dropFirst("models--".count)
            if let separator = id.range(of: "--"), !id[..<separator.lowerBound].isEmpty,
               !id[separator.upperBound...].isEmpty {
                return id[..<separator.lowerBound] + "/" + id[separator.upperBound...]
            }
        }
        return components.last ?? path
    }

    /// Letters, digits, `-`, `_`, `.`; not starting with `.` (so `..` and hidden names are not hub ids).
    private static func isHubNamePart(_ part: Substring) -> Bool {
        guard let first = part.first, first != ".", part.count <= 96 else { return false }
        return part.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == ".") }
    }
}
