import Foundation

/// A fresh scratch folder under the system's temporary directory, removed with everything in it when the value goes
/// away (hold it in a test's local or in a property set in setUp and cleared in tearDown).
public final class TempDir {
    public let path: String
    public var url: URL { URL(fileURLWithPath: path) }

    /// - Parameter label: part of the folder's name, to tell whose leftovers they are if a test process is killed.
    public init(_ label: String = "test") throws {
        path = NSTemporaryDirectory() + "bloomkit-\(label)-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    /// `path/name`, without creating it.
    public func file(_ name: String) -> String { path + "/" + name }

    /// Creates the folder `path/name` (and its parents) and returns its path.
    @discardableResult
    public func folder(_ name: String) throws -> String {
        let p = file(name)
        try FileManager.default.createDirectory(atPath: p, withIntermediateDirectories: true)
        return p
    }

    /// Writes `bytes` to `path/name`, creating its folders; returns the file's path.
    @discardableResult
    public func write(_ name: String, _ bytes: [UInt8]) throws -> String {
        let p = file(name)
        try FileManager.default.createDirectory(atPath: (p as NSString).deletingLastPathComponent,
                                                withIntermediateDirectories: true)
        try Data(bytes).write(to: URL(fileURLWithPath: p))
        return p
    }

    /// Writes `text` as UTF-8 to `path/name`; returns the file's path.
    @discardableResult
    public func write(_ name: String, _ text: String) throws -> String { try write(name, Array(text.utf8)) }
}
