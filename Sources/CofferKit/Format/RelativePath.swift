/// The rules for a relative, `/`-separated path that is safe to use below
/// a directory: what a document name must be, and what a bundle's tar
/// entries must be.
enum RelativePath {
    /// Why `path` is not a safe relative path, or nil if it is one: it must
    /// be non-empty, must not start with `/`, must hold no NUL, and no
    /// component may be empty (`a//b`, a trailing `/`), `.` or `..`.
    static func problem(_ path: String) -> String? {
        if path.isEmpty { return "the name is empty" }
        if path.hasPrefix("/") { return "it is an absolute path" }
        if path.utf8.contains(0) { return "it contains NUL" }
        for part in path.split(separator: "/", omittingEmptySubsequences: false) {
            if part == ".." { return "it climbs out of the destination (..)" }
            if part.isEmpty || part == "." { return "it has an empty or . component" }
        }
        return nil
    }
}

/// The names placed in one tree of files (a bundle opened, a folder
/// opened): each at most once, and none both a file and a folder (`a` and
/// `a/b`), in either order.
struct TreeNames {
    /// Why a name cannot be placed.
    enum Clash: Error, CustomStringConvertible {
        /// The name was placed before.
        case twice(String)
        /// This name (the one placed, or a folder above it) is a file and a folder.
        case fileAndFolder(String)

        /// `a appears twice`, `a is both a file and a folder`.
        var description: String {
            switch self {
            case .twice(let name): "\(name) appears twice"
            case .fileAndFolder(let name): "\(name) is both a file and a folder"
            }
        }
    }

    private var files: Set<String> = []
    private var folders: Set<String> = []

    /// Places `name` (a safe relative path) beside the names before it.
    /// - Throws: ``Clash``.
    mutating func place(_ name: String) throws {
        if files.contains(name) { throw Clash.twice(name) }
        if folders.contains(name) { throw Clash.fileAndFolder(name) }
        let parents = Self.parentFolders(of: name)
        if let clash = parents.first(where: files.contains) { throw Clash.fileAndFolder(clash) }
        files.insert(name)
        folders.formUnion(parents)
    }

    /// `a` and `a/b` for `a/b/c`.
    static func parentFolders(of name: String) -> [String] {
        var parents: [String] = []
        var index = name.startIndex
        while let slash = name[index...].firstIndex(of: "/") {
            parents.append(String(name[..<slash]))
            index = name.index(after: slash)
        }
        return parents
    }
}

/// Document names: what `coffer seal` accepts as a name.
public enum DocumentName {
    /// Longest accepted name, in bytes (a bundle's tar path may be as long).
    public static let maximumLength = 4096

    /// Checks that `name` can name a document: a relative `/`-separated
    /// path (`q3.pdf`, `reports/q3.pdf`) of 1 to 4096 bytes, with no NUL,
    /// no leading `/`, and no empty, `.` or `..` component, so that opening
    /// it, or exporting it in a bundle, can never target a path outside the
    /// folder it is written to. Control characters are allowed (file names
    /// may hold them); the CLI escapes them when it prints a name.
    /// - Throws: ``VaultError/unsafeName(_:reason:)`` (a usage error).
    public static func check(_ name: String) throws {
        if name.utf8.count > maximumLength { throw VaultError.unsafeName(name, reason: "it is longer than \(maximumLength) bytes") }
        if let reason = RelativePath.problem(name) { throw VaultError.unsafeName(name, reason: reason) }
    }
}
