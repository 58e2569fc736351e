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
