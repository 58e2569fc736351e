import Foundation

/// Where an identity keeps what it has verified of vaults: the heads it
/// has seen (rollback and fork detection) and its state store (indexes,
/// the replayed state). Going without one is spelled out at the call site:
/// it is never the silent result of a missing argument.
public enum StateLocation: Sendable, Equatable {
    /// The user's state directory: `$COFFER_STATE_DIR`, else
    /// `$XDG_STATE_HOME/coffer`, else `~/.local/state/coffer`
    /// (``standardDirectory``), as the `coffer` command uses.
    case standard
    /// This directory.
    case directory(String)
    /// None: every open replays the whole ledger, and a vault rolled back
    /// to an older ledger, or forked, is not noticed. For throw-away copies
    /// (a fuzzer's seeds, a test) only.
    case withoutRollbackDetection

    /// The directory, or nil for ``withoutRollbackDetection``.
    public var path: String? {
        switch self {
        case .standard: Self.standardDirectory
        case .directory(let path): path
        case .withoutRollbackDetection: nil
        }
    }

    /// `$COFFER_STATE_DIR`, else `$XDG_STATE_HOME/coffer`, else `~/.local/state/coffer`.
    public static var standardDirectory: String {
        let environment = ProcessInfo.processInfo.environment
        if let directory = environment["COFFER_STATE_DIR"], !directory.isEmpty { return directory }
        if let xdg = environment["XDG_STATE_HOME"], !xdg.isEmpty { return xdg + "/coffer" }
        return FileSystem.homeDirectory + "/.local/state/coffer"
    }
}

extension FileSystem {
    /// `$HOME`, else the account's home directory.
    static var homeDirectory: String {
        if let home = ProcessInfo.processInfo.environment["HOME"], !home.isEmpty { return home }
        return NSHomeDirectory()
    }
}
