import Foundation

/// A verified ``VaultState`` saved by one identity, so that opening a vault
/// replays only the ledger entries after it instead of the whole history
/// (a vault of a hundred thousand documents replays in seconds, not less).
///
/// The file lives in the identity's state directory, beside its remembered
/// heads, and is authenticated with a key only that identity holds
/// (BLAKE2b-256 keyed by `KDF(identity seed, 4, "cofrckpt")`): someone who
/// can write the state directory cannot make it believe in another state.
/// Layout (docs/FORMAT.md, "State checkpoint"): `"coffer-state-v2\n"` ‖ body ‖ MAC (32).
/// (A `v1` checkpoint, written before sealed details, is ignored: the
/// ledger is replayed from its first entry and a `v2` one written.)
/// The body is the state's fields in a fixed order, big-endian, strings and
/// byte strings with a `u32` length.
enum StateCheckpoint {
    static let magic = Array("coffer-state-v2\n".utf8)
    static let macByteCount = 32
    /// Whether opening, having replayed `entries` entries of `bytes` bytes
    /// after the last checkpoint, should write a new one: after 2,000
    /// entries, or 16 MiB of entries (one rotation of 100,000 documents).
    static func isDue(entries: Int64, bytes: Int) -> Bool {
        entries >= 2_000 || bytes >= 16 << 20
    }
    /// The largest checkpoint file read (a few million documents).
    static let maximumSize = 2 << 30

    /// The key that authenticates `identity`'s checkpoints.
    static func key(of identity: Identity) -> SymmetricKey {
        SubkeyDerivation.derive(from: identity.seed, id: 4, context: "cofrckpt")
    }

    private static func mac(_ bytes: [UInt8], key: SymmetricKey) -> [UInt8] {
        let hasher = Blake2b(outputByteCount: macByteCount, key: key)
        hasher.update(bytes)
        return hasher.finalize()
    }

    /// The file bytes for `state`.
    static func encode(_ state: VaultState, key: SymmetricKey) -> [UInt8] {
        var w = ByteWriter()
        w.write(magic)
        StateWriter().write(state, into: &w)
        w.write(mac(w.bytes, key: key))
        return w.bytes
    }

    /// The state in the checkpoint file at `path`, if its MAC verifies under
    /// `key`. Read in two streaming passes (MAC, then parse) through a small
    /// buffer, so the file never sits in memory next to the state it holds.
    /// - Returns: nil for a missing, foreign or damaged file.
    /// - Throws: ``FormatError`` for a body that authenticates but does not parse, ``FileError``.
    static func read(at path: String, key: SymmetricKey) throws -> VaultState? {
        let file: POSIXFile
        do {
            file = try POSIXFile.openForReading(path)
        } catch let error as FileError where error.kind == .notFound {
            return nil
        }
        let size = Int(try file.status().st_size)
        guard size >= magic.count + macByteCount, size <= maximumSize else { return nil }
        let bodyEnd = size - macByteCount
        let hasher = Blake2b(outputByteCount: macByteCount, key: key)
        var reader = FileByteReader(file: file, range: 0..<bodyEnd, what: "state checkpoint")
        while reader.remaining > 0 { hasher.update(try reader.read(Swift.min(reader.remaining, 1 << 20))) }
        var tail = FileByteReader(file: file, range: bodyEnd..<size, what: "state checkpoint")
        guard Sodium.constantTimeEqual(hasher.finalize(), try tail.read(macByteCount)) else { return nil }
        var body = FileByteReader(file: file, range: 0..<bodyEnd, what: "state checkpoint")
        guard try body.read(magic.count) == magic else { return nil }
        return try parseBody(&body)
    }

    /// Parses an authenticated checkpoint body (after the magic, before the
    /// MAC) to its end: the one parser ``read(at:key:)`` uses, also run by
    /// the fuzz target on bytes in memory.
    /// - Throws: ``FormatError`` (and the identity and id errors of the fields) for a body that does not parse.
    static func parseBody<R: BinaryReading>(_ body: inout R) throws -> VaultState {
        let state = try StateReader.read(&body)
        try body.expectEnd()
        return state
    }
}

/// Writes the checkpoint body (one order of fields, mirrored by ``StateReader``).
private struct StateWriter {
    func write(_ s: VaultState, into w: inout ByteWriter) {
        w.write(s.vaultID.bytes)
        w.write(UInt64(s.entryCount))
        w.write(s.head)
        list(s.labels, &w) { string($0, &$1) }
        optional(s.chosenExportLimit, &w) { string($0, &$1) }
        list(s.identities.sorted { $0.key < $1.key }, &w) { entry, w in
            string(entry.key, &w)
            string(entry.value.identity.description, &w)
            string(entry.value.name, &w)
        }
        list(s.admins.sorted(), &w) { string($0, &$1) }
        list(s.revoked.sorted(), &w) { string($0, &$1) }
        list(s.roles.values.sorted { $0.id < $1.id }, &w) { role, w in
            w.write(role.id.bytes)
            string(role.name, &w)
            string(role.kind.rawValue, &w)
            string(role.clearance, &w)
            list(role.members.sorted(), &w) { string($0, &$1) }
            w.write(role.currentVersion)
            w.write(UInt8(role.rotationDue ? 1 : 0))
            list(role.versions.sorted { $0.key < $1.key }, &w) { entry, w in
                w.write(entry.key)
                bytes(entry.value.publicKey, &w)
                list(entry.value.seals.sorted { $0.key < $1.key }, &w) { seal, w in
                    string(seal.key, &w)
                    bytes(seal.value, &w)
                }
                optional(entry.value.adminWrap, &w) { wrap, w in
                    bytes(wrap.wrapped, &w)
                    w.write(wrap.adminVersion)
                }
            }
        }
        list(Array(s.documents.values), &w) { document, w in
            w.write(document.id.bytes)
            string(document.owner, &w)
            string(document.label, &w)
            w.write(UInt8(document.rekeyDue ? 1 : 0))
            version(document.current, &w)
            list(document.older, &w) { version($0, &$1) }
        }
        list(s.partners.values.sorted { $0.name < $1.name }, &w) { json($0, &$1) }
        list(s.bundles, &w) { bundle, w in
            string(bundle.sender, &w)
            w.write(UInt64(bitPattern: Int64(bundle.time.timeIntervalSince1970)))
            json(bundle.record, &w)
            w.write(UInt64(bitPattern: bundle.sequence))
        }
        list(s.detailsKeys.sorted { $0.key < $1.key }, &w) { entry, w in
            w.write(UInt64(bitPattern: entry.key))
            w.write(entry.value.adminVersion)
            bytes(entry.value.wrapped, &w)
            string(entry.value.action, &w)
            string(entry.value.subject, &w)
        }
    }

    private func version(_ v: VaultState.Version, _ w: inout ByteWriter) {
        w.write(v.generation)
        w.write(v.manifest.bytes)
        list(v.segments, &w) { $1.write($0.bytes) }
        bytes(v.metadata, &w)
        bytes(v.commitment, &w)
        list(v.wraps.entries, &w) { wrap, w in
            w.write(wrap.key.bytes)
            w.write(wrap.value.roleVersion)
            bytes(wrap.value.wrapped, &w)
        }
        w.write(UInt64(bitPattern: Int64(v.sealedAt.timeIntervalSince1970)))
        string(v.sealedBy, &w)
        w.write(UInt64(v.sequence))
    }

    private func list<T>(_ items: [T], _ w: inout ByteWriter, _ each: (T, inout ByteWriter) -> Void) {
        w.write(UInt32(items.count))
        for item in items { each(item, &w) }
    }

    private func optional<T>(_ item: T?, _ w: inout ByteWriter, _ write: (T, inout ByteWriter) -> Void) {
        w.write(UInt8(item == nil ? 0 : 1))
        if let item { write(item, &w) }
    }

    private func bytes(_ b: [UInt8], _ w: inout ByteWriter) {
        w.write(UInt32(b.count))
        w.write(b)
    }

    private func string(_ s: String, _ w: inout ByteWriter) { bytes(Array(s.utf8), &w) }

    private func json<T: Encodable>(_ value: T, _ w: inout ByteWriter) {
        // Partners and bundles are few; their ledger JSON is their encoding here too.
        bytes(Array((try? LedgerJSON.encoder.encode(value)) ?? Data()), &w)
    }
}

/// Reads what ``StateWriter`` wrote.
private enum StateReader {
    static func read<R: BinaryReading>(_ r: inout R) throws -> VaultState {
        var s = VaultState(vaultID: try VaultID(bytes: try r.read(16)))
        s.entryCount = Int64(bitPattern: try r.readUInt64())
        s.head = try r.read(32)
        s.labels = try list(&r) { try string(&$0) }
        s.chosenExportLimit = try optional(&r) { try string(&$0) }
        for (fingerprint, identity, name) in try list(&r, { r in (try string(&r), try string(&r), try string(&r)) }) {
            s.identities[fingerprint] = VaultState.Member(identity: try PublicIdentity(identity), name: name)
        }
        s.admins = Set(try list(&r) { try string(&$0) }.map(s.canonical))
        s.revoked = Set(try list(&r) { try string(&$0) }.map(s.canonical))
        for role in try list(&r, { r in try Self.role(&r, s) }) {
            s.roles[role.id] = role
            if role.kind == .admin { s.adminRoleID = role.id }
            if role.kind == .personal { s.personalRoleIDs[s.canonical(String(role.name.dropFirst()))] = role.id }
        }
        let count = Int(try r.readUInt32())
        // Each document takes more than one byte: a larger count is a damaged
        // body, refused before it sizes the table (fuzzing found the 4-billion one).
        guard count <= r.remaining else { throw FormatError.truncated("state checkpoint") }
        s.documents.reserveCapacity(count)
        for _ in 0..<count {
            let id = try DocumentID(bytes: try r.read(16))
            let owner = s.canonical(try string(&r))
            let label = try string(&r)
            let rekeyDue = try r.readUInt8() == 1
            let current = try version(&r, s)
            let older = try list(&r) { try version(&$0, s) }
            s.documents[id] = VaultState.Document(id: id, owner: owner, label: label, current: current, older: older, rekeyDue: rekeyDue)
            for (role, wrap) in current.wraps { s.wrapCounts[role, default: [:]][wrap.roleVersion, default: 0] += 1 }
        }
        for partner in try list(&r, { try json(PartnerAdded.self, &$0) }) { s.partners[partner.name] = partner }
        s.bundles = try list(&r) { r in
            (s.canonical(try string(&r)), Date(timeIntervalSince1970: TimeInterval(Int64(bitPattern: try r.readUInt64()))), try json(BundleCreated.self, &r),
             Int64(bitPattern: try r.readUInt64()))
        }
        for (sequence, wrap) in try list(&r, { r in
            (Int64(bitPattern: try r.readUInt64()), VaultState.DetailsKeyWrap(
                adminVersion: try r.readUInt32(), wrapped: try bytes(&r), action: try string(&r), subject: try string(&r)))
        }) {
            s.detailsKeys[sequence] = wrap
        }
        return s
    }

    private static func role<R: BinaryReading>(_ r: inout R, _ s: VaultState) throws -> VaultState.Role {
        let id = try RoleID(bytes: try r.read(16))
        let name = try string(&r)
        guard let kind = RoleKind(rawValue: try string(&r)) else { throw FormatError.malformed("state checkpoint", "role kind") }
        let clearance = try string(&r)
        let members = Set(try list(&r) { try string(&$0) }.map(s.canonical))
        let current = try r.readUInt32()
        let rotationDue = try r.readUInt8() == 1
        var versions: [UInt32: VaultState.KeyVersion] = [:]
        for _ in 0..<(try r.readUInt32()) {
            let number = try r.readUInt32()
            let publicKey = try bytes(&r)
            var seals: [String: [UInt8]] = [:]
            for (member, sealed) in try list(&r, { r in (try string(&r), try bytes(&r)) }) { seals[s.canonical(member)] = sealed }
            let adminWrap = try optional(&r) { r in (wrapped: try bytes(&r), adminVersion: try r.readUInt32()) }
            versions[number] = VaultState.KeyVersion(publicKey: publicKey, seals: seals, adminWrap: adminWrap)
        }
        var role = VaultState.Role(id: id, name: name, kind: kind, clearance: clearance, members: members, versions: versions, currentVersion: current)
        role.rotationDue = rotationDue
        return role
    }

    private static func version<R: BinaryReading>(_ r: inout R, _ s: VaultState) throws -> VaultState.Version {
        let generation = try r.readUInt32()
        let manifest = try ObjectID(bytes: try r.read(32))
        let segments = try list(&r) { try ObjectID(bytes: try $0.read(32)) }
        let metadata = try bytes(&r)
        let commitment = try bytes(&r)
        // Version keeps it inline and requires 32 bytes (fuzzing found an empty one trapping there).
        guard commitment.count == 32 else { throw FormatError.malformed("state checkpoint", "commitment is not 32 bytes") }
        var wraps = VaultState.WrapSet()
        for (role, roleVersion, wrapped) in try list(&r, { r in (try RoleID(bytes: try r.read(16)), try r.readUInt32(), try bytes(&r)) }) {
            wraps[role] = VaultState.Wrap(roleVersion: roleVersion, wrapped: wrapped)
        }
        let sealedAt = Date(timeIntervalSince1970: TimeInterval(Int64(bitPattern: try r.readUInt64())))
        let sealedBy = s.canonical(try string(&r))
        let sequence = Int64(bitPattern: try r.readUInt64())
        return VaultState.Version(
            generation: generation, manifest: manifest, segments: segments, metadata: metadata, commitment: commitment, wraps: wraps,
            sealedAt: sealedAt, sealedBy: sealedBy, sequence: sequence)
    }

    private static func list<R: BinaryReading, T>(_ r: inout R, _ each: (inout R) throws -> T) throws -> [T] {
        let count = Int(try r.readUInt32())
        guard count <= r.remaining else { throw FormatError.truncated("state checkpoint") }
        var items: [T] = []
        items.reserveCapacity(count)
        for _ in 0..<count { items.append(try each(&r)) }
        return items
    }

    private static func optional<R: BinaryReading, T>(_ r: inout R, _ read: (inout R) throws -> T) throws -> T? {
        try r.readUInt8() == 1 ? try read(&r) : nil
    }

    private static func bytes<R: BinaryReading>(_ r: inout R) throws -> [UInt8] { try r.read(Int(try r.readUInt32())) }

    private static func string<R: BinaryReading>(_ r: inout R) throws -> String {
        guard let s = String(validating: try bytes(&r), as: UTF8.self) else { throw FormatError.malformed("state checkpoint", "string") }
        return s
    }

    private static func json<R: BinaryReading, T: Decodable>(_ type: T.Type, _ r: inout R) throws -> T {
        do {
            return try LedgerJSON.decoder.decode(type, from: Data(try bytes(&r)))
        } catch let error as FormatError {
            throw error
        } catch {
            throw FormatError.malformed("state checkpoint", "\(T.self)")
        }
    }
}

/// Reads a byte range of a file sequentially through a 1 MiB buffer.
private struct FileByteReader: BinaryReading {
    private let file: POSIXFile
    private var position: Int
    private let end: Int
    private var buffer: [UInt8] = []
    private var bufferOffset = 0
    let what: String

    init(file: POSIXFile, range: Range<Int>, what: String) {
        self.file = file
        position = range.lowerBound
        end = range.upperBound
        self.what = what
    }

    var remaining: Int { end - position + (buffer.count - bufferOffset) }

    mutating func withNext<T>(_ count: Int, _ body: (UnsafeRawBufferPointer) throws -> T) throws -> T {
        guard count >= 0, count <= remaining else { throw FormatError.truncated(what) }
        if bufferOffset == buffer.count && count > 0 { try refill() }
        if count <= buffer.count - bufferOffset {  // within the buffer: lent in place
            defer { bufferOffset += count }
            return try buffer.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[bufferOffset..<(bufferOffset + count)])) }
        }
        var out: [UInt8] = []  // across a refill: gathered
        out.reserveCapacity(count)
        while out.count < count {
            if bufferOffset == buffer.count { try refill() }
            let take = Swift.min(count - out.count, buffer.count - bufferOffset)
            out.append(contentsOf: buffer[bufferOffset..<(bufferOffset + take)])
            bufferOffset += take
        }
        return try out.withUnsafeBytes(body)
    }

    private mutating func refill() throws {
        let chunk = Swift.min(1 << 20, end - position)
        buffer = [UInt8](repeating: 0, count: chunk)
        let got = try buffer.withUnsafeMutableBytes { try file.read(into: $0, at: position) }
        guard got == chunk else { throw FormatError.truncated(what) }
        position += chunk
        bufferOffset = 0
    }
}
