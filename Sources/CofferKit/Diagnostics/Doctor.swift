#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
import CSodium
import Foundation

/// One finding of `coffer doctor`.
public struct DoctorCheck: Codable, Sendable, Equatable {
    /// How it went.
    public enum Status: String, Codable, Sendable {
        /// As it should be.
        case ok
        /// Works, but weaker or less convenient than it should be.
        case warning
        /// Something Coffer cannot work with, or that exposes a secret.
        case problem
    }

    /// What was checked: `libsodium`, `identity file`, `state directory`, `vault`, `clock`.
    public let subject: String
    /// How it went.
    public let status: Status
    /// What was found.
    public let detail: String
    /// What to do about it (nil when nothing is to be done).
    public let fix: String?
}

/// What `coffer doctor` found.
public struct DoctorReport: Codable, Sendable, Equatable {
    /// Every check, in the order run.
    public let checks: [DoctorCheck]
    /// Whether any check found a problem (warnings do not count).
    public var hasProblems: Bool { checks.contains { $0.status == .problem } }
}

/// Checks the set-up a user's commands depend on, reading only: the
/// identity file and its mode, the state directory, the vault (reachable,
/// format, lock), libsodium, and the clock against the vault's newest
/// ledger entry. Needs no passphrase and changes nothing; every file is
/// looked at without following a link or opening a FIFO.
public enum Doctor {
    /// The oldest libsodium Coffer is built and tested against.
    public static let minimumSodium = (major: 10, minor: 3)  // 1.0.18

    /// How far the clock may be behind the newest ledger entry before it is a problem.
    static let clockTolerance: TimeInterval = 300

    /// Runs every check.
    /// - Parameters:
    ///   - identityFile: the identity file commands would use.
    ///   - stateDirectory: the state directory commands would use.
    ///   - vault: the vault commands would use, or nil if none is chosen.
    ///   - now: the time to check the clock with.
    public static func examine(identityFile: String, stateDirectory: String, vault: String?, now: Date = Date()) -> DoctorReport {
        var checks = [sodium(), identity(identityFile), state(stateDirectory)]
        checks += self.vault(vault, now: now)
        return DoctorReport(checks: checks)
    }

    static func sodium() -> DoctorCheck {
        let version = Sodium.libraryVersion
        let major = Int(sodium_library_version_major()), minor = Int(sodium_library_version_minor())
        guard (major, minor) >= minimumSodium else {
            return DoctorCheck(
                subject: "libsodium", status: .problem, detail: "version \(version) is older than 1.0.18",
                fix: "install libsodium 1.0.18 or later (Debian: apt-get install libsodium23)")
        }
        return DoctorCheck(subject: "libsodium", status: .ok, detail: "version \(version)", fix: nil)
    }

    static func identity(_ path: String) -> DoctorCheck {
        let subject = "identity file"
        var st = stat()
        guard lstat(path, &st) == 0 else {
            return DoctorCheck(
                subject: subject, status: .problem, detail: "\(path) does not exist",
                fix: "create one with `coffer identity new --out \(path)`, or point COFFER_IDENTITY or --identity at yours")
        }
        if let problem = privateFileProblem(path, st, kind: "file", mode: 0o600) { return DoctorCheck(subject: subject, status: .problem, detail: problem.detail, fix: problem.fix) }
        let encrypted: Bool
        do {
            encrypted = try IdentityFile.isEncrypted(try FileSystem.readSmallFile(path, limit: 1 << 16), path: path)
        } catch {
            return DoctorCheck(subject: subject, status: .problem, detail: "\(path) is not a Coffer identity file: \(error)", fix: "point COFFER_IDENTITY or --identity at your identity file")
        }
        guard encrypted else {
            return DoctorCheck(
                subject: subject, status: .warning, detail: "\(path) (mode 0600) holds its key without a passphrase: whoever reads the file has it",
                fix: "make a passphrase-protected identity with `coffer identity new` for new vaults, and keep this file on an encrypted disk")
        }
        return DoctorCheck(subject: subject, status: .ok, detail: "\(path) (mode 0600, passphrase-protected)", fix: nil)
    }

    static func state(_ path: String) -> DoctorCheck {
        let subject = "state directory"
        var st = stat()
        guard lstat(path, &st) == 0 else {
            return DoctorCheck(subject: subject, status: .ok, detail: "\(path) does not exist yet; the first command that opens a vault creates it (0700)", fix: nil)
        }
        if let problem = privateFileProblem(path, st, kind: "directory", mode: 0o700) { return DoctorCheck(subject: subject, status: .problem, detail: problem.detail, fix: problem.fix) }
        guard access(path, W_OK) == 0 else {
            return DoctorCheck(subject: subject, status: .problem, detail: "\(path) is not writable", fix: "chmod u+w \(path)")
        }
        return DoctorCheck(subject: subject, status: .ok, detail: "\(path) (mode 0700): rollback detection is on", fix: nil)
    }

    /// Why `path` (already `lstat`ed into `st`) is not a private `kind`
    /// owned by this user with no access for others, or nil.
    private static func privateFileProblem(_ path: String, _ st: stat, kind: String, mode: mode_t) -> (detail: String, fix: String)? {
        let expected: mode_t = kind == "directory" ? S_IFDIR : S_IFREG
        guard st.st_mode & S_IFMT == expected else {
            return ("\(path) is a \(EntryKind(mode: st.st_mode).rawValue), not a \(kind)", "replace it with the \(kind) itself (Coffer follows no link here)")
        }
        guard st.st_uid == geteuid() else {
            return ("\(path) belongs to user \(st.st_uid), not to you (\(geteuid()))", "use a \(kind) of your own")
        }
        let bits = st.st_mode & 0o777
        guard bits & 0o077 == 0 else {
            return (String(format: "\(path) has mode %04o: others may read it", bits), String(format: "chmod %o \(path)", mode))
        }
        return nil
    }

    static func vault(_ path: String?, now: Date) -> [DoctorCheck] {
        let subject = "vault"
        guard let path else {
            return [DoctorCheck(subject: subject, status: .warning, detail: "no vault is chosen", fix: "pass --vault DIR or set COFFER_VAULT")]
        }
        let storage: (VaultDescriptor, any VaultCatalog)
        var checks: [DoctorCheck] = []
        do {
            if let shared = try SharedStorage.read(inVault: path) {
                let (descriptor, catalog, _) = try Vault.openCatalog(at: path, access: .readOnly)
                storage = (descriptor, catalog)
                checks += sharedStorage(shared, catalog: catalog)
            } else {
                storage = try Vault.openStorage(at: path, access: .readOnly, toleratingForeignSchema: true)
            }
        } catch {
            return [DoctorCheck(subject: subject, status: .problem, detail: "\(path): \(error)", fix: "check the path (`coffer init --vault \(path)` makes a new vault)")]
        }
        let (descriptor, catalog) = storage
        do {
            let schema = try catalog.storedSchema()
            let entries = try catalog.ledgerCount()
            switch schema {
            case Catalog.schemaVersion:
                checks.append(DoctorCheck(
                    subject: subject, status: .ok, detail: "\(path): vault \(descriptor.vault), catalog schema \(Catalog.schemaVersion), \(entries) ledger entries", fix: nil))
            case .some(let older) where older < Catalog.schemaVersion:
                checks.append(DoctorCheck(
                    subject: subject, status: .problem, detail: "\(path): catalog schema \(older), which this Coffer reads but does not change",
                    fix: "an administrator runs `coffer vault upgrade --vault \(path)` (docs/CLI.md)"))
            default:
                checks.append(DoctorCheck(
                    subject: subject, status: .problem, detail: "\(path): catalog schema \(schema.map(String.init) ?? "unknown"), unknown to this Coffer",
                    fix: "use the Coffer that made it, or a newer one"))
            }
            if entries > 0, let newest = try catalog.ledgerEntry(at: entries - 1) {
                checks.append(clock(now: now, newestEntry: newest.contents.time))
            }
        } catch {
            checks.append(DoctorCheck(subject: subject, status: .problem, detail: "\(path): \(error)", fix: "run `coffer verify --vault \(path)` for the details"))
        }
        return checks
    }

    /// A shared vault's servers: the database connection (TLS, or the
    /// loopback) and the bucket (reachable, without versioning).
    static func sharedStorage(_ shared: SharedStorage, catalog: any VaultCatalog) -> [DoctorCheck] {
        var checks: [DoctorCheck] = []
        if let ledger = catalog as? PostgresLedger {
            let host = ledger.connection.host
            if ledger.connection.usesTLS {
                checks.append(DoctorCheck(subject: "database", status: .ok, detail: "\(host): TLS in use (schema \(shared.schema))", fix: nil))
            } else if ["127.0.0.1", "::1", "localhost"].contains(host) || host.hasPrefix("/") {
                checks.append(DoctorCheck(subject: "database", status: .ok, detail: "\(host): on this machine, without TLS (schema \(shared.schema))", fix: nil))
            } else {
                checks.append(DoctorCheck(
                    subject: "database", status: .warning, detail: "\(host): the connection is not encrypted",
                    fix: "add sslmode=verify-full (and sslrootcert=FILE for a private CA) to the connection string in coffer-shared"))
            }
        }
        do {
            try shared.connectObjects().requireUsableBucket()
            checks.append(DoctorCheck(subject: "objects", status: .ok, detail: "\(shared.objects): reachable, without versioning", fix: nil))
        } catch {
            checks.append(DoctorCheck(subject: "objects", status: .problem, detail: "\(shared.objects): \(error)", fix: "check the AWS_* settings and the bucket (docs/SHARED.md)"))
        }
        return checks
    }

    static func clock(now: Date, newestEntry: Date) -> DoctorCheck {
        guard newestEntry.timeIntervalSince(now) <= clockTolerance else {
            return DoctorCheck(
                subject: "clock", status: .problem,
                detail: "this machine's clock (\(Timestamp.format(now))) is behind the vault's newest ledger entry (\(Timestamp.format(newestEntry)))",
                fix: "set the clock right (`timedatectl set-ntp true`): entries you record would be dated before earlier ones")
        }
        return DoctorCheck(subject: "clock", status: .ok, detail: "\(Timestamp.format(now)), not behind the vault's newest entry", fix: nil)
    }
}
