import Foundation

/// The binary encoding of a verified ``VaultState`` in an identity's
/// ``StateStore``: the *core* (everything but the documents: labels,
/// identities, roles and their key versions, partners, bundles, details
/// keys, wrap counts; small, read whole by every command) and one *record*
/// per document (read only when that document is needed).
///
/// Fields in a fixed order, big-endian, strings and byte strings with a
/// `u32` length (docs/FORMAT.md, "State store"). Both are authenticated by
/// the store, not here: the parsers below only ever see bytes whose MAC
/// verified, and still refuse anything malformed with a ``FormatError``.
enum StateCodec {
    /// The core of `state`: every field but the documents.
    static func encodeCore(_ state: VaultState) -> [UInt8] {
        var w = ByteWriter()
        StateWriter().writeCore(state, into: &w)
        return w.bytes
    }

    /// One document's record.
    static func encodeDocument(_ document: VaultState.Document) -> [UInt8] {
        var w = ByteWriter()
        StateWriter().writeDocument(document, into: &w)
        return w.bytes
    }

    /// Parses a core to its end into a state with no documents.
    /// - Throws: ``FormatError`` (and the identity and id errors of the fields) for bytes that do not parse.
    static func decodeCore<R: BinaryReading>(_ r: inout R) throws -> VaultState {
        let state = try StateReader.readCore(&r)
        try r.expectEnd()
        return state
    }

    /// Parses a document record to its end.
    /// - Throws: ``FormatError`` for bytes that do not parse.
    static func decodeDocument<R: BinaryReading>(_ r: inout R) throws -> VaultState.Document {
        let document = try StateReader.readDocument(&r)
        try r.expectEnd()
        return document
    }
}

/// Writes cores and records (one order of fields, mirrored by ``StateReader``).
private struct StateWriter {
    func writeCore(_ s: VaultState, into w: inout ByteWriter) {
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
            optional(role.keyIssuedAt, &w) { $1.write(UInt64(bitPattern: Int64($0.timeIntervalSince1970))) }
            optional(role.maxKeyAge, &w) { $1.write(UInt64(bitPattern: $0)) }
            list(role.versions.sorted { $0.key < $1.key }, &w) { entry, w in
                w.write(entry.key)
                bytes(entry.value.publicKey, &w)
                optional(entry.value.postQuantumKey, &w) { bytes($0, &$1) }
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
        list(s.wrapCounts.sorted { $0.key < $1.key }, &w) { role, w in
            w.write(role.key.bytes)
            list(role.value.sorted { $0.key < $1.key }, &w) { count, w in
                w.write(count.key)
                w.write(UInt64(max(0, count.value)))
            }
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
        list(s.holds.sorted { $0.key < $1.key }, &w) { entry, w in
            string(entry.key, &w)
            w.write(UInt64(bitPattern: entry.value))
        }
        for table in [s.labelMaxKeyAge, s.labelRetention] {
            list(table.sorted { $0.key < $1.key }, &w) { entry, w in
                string(entry.key, &w)
                w.write(UInt64(bitPattern: entry.value))
            }
        }
    }

    func writeDocument(_ document: VaultState.Document, into w: inout ByteWriter) {
        w.write(document.id.bytes)
        string(document.owner, &w)
        string(document.label, &w)
        w.write(UInt8(document.rekeyDue ? 1 : 0))
        version(document.current, &w)
        list(document.older, &w) { version($0, &$1) }
        optional(document.deletion, &w) { deletion, w in
            w.write(UInt64(bitPattern: deletion.sequence))
            w.write(UInt64(bitPattern: Int64(deletion.time.timeIntervalSince1970)))
            string(deletion.actor, &w)
        }
        list(document.holds, &w) { string($0, &$1) }
    }

    private func version(_ v: VaultState.Version, _ w: inout ByteWriter) {
        w.write(v.generation)
        w.write(v.manifest.hash.rawValue)
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
        w.write(v.revision)
        optional(v.previousKey, &w) { bytes($0, &$1) }
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
    static func readCore<R: BinaryReading>(_ r: inout R) throws -> VaultState {
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
        for (role, counts) in try list(&r, { r in (try RoleID(bytes: try r.read(16)), try list(&r) { r in (try r.readUInt32(), try r.readUInt64()) }) }) {
            for (version, count) in counts {
                guard count <= UInt64(Int32.max) else { throw FormatError.malformed("vault state", "wrap count") }
                s.wrapCounts[role, default: [:]][version] = Int(count)
            }
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
        for (hold, sequence) in try list(&r, { r in (try string(&r), Int64(bitPattern: try r.readUInt64())) }) { s.holds[hold] = sequence }
        for (label, age) in try list(&r, { r in (try string(&r), Int64(bitPattern: try r.readUInt64())) }) { s.labelMaxKeyAge[label] = age }
        for (label, period) in try list(&r, { r in (try string(&r), Int64(bitPattern: try r.readUInt64())) }) { s.labelRetention[label] = period }
        return s
    }

    static func readDocument<R: BinaryReading>(_ r: inout R) throws -> VaultState.Document {
        let id = try DocumentID(bytes: try r.read(16))
        let owner = try string(&r)
        let label = try string(&r)
        let rekeyDue = try r.readUInt8() == 1
        let current = try version(&r)
        let older = try list(&r) { try version(&$0) }
        let deletion = try optional(&r) { r in
            VaultState.Deletion(
                sequence: Int64(bitPattern: try r.readUInt64()), time: Date(timeIntervalSince1970: TimeInterval(Int64(bitPattern: try r.readUInt64()))),
                actor: try string(&r))
        }
        let holds = try list(&r) { try string(&$0) }
        return VaultState.Document(
            id: id, owner: owner, label: label, current: current, older: older, rekeyDue: rekeyDue, deletion: deletion, holds: holds)
    }

    private static func role<R: BinaryReading>(_ r: inout R, _ s: VaultState) throws -> VaultState.Role {
        let id = try RoleID(bytes: try r.read(16))
        let name = try string(&r)
        guard let kind = RoleKind(rawValue: try string(&r)) else { throw FormatError.malformed("vault state", "role kind") }
        let clearance = try string(&r)
        let members = Set(try list(&r) { try string(&$0) }.map(s.canonical))
        let current = try r.readUInt32()
        let rotationDue = try r.readUInt8() == 1
        let keyIssuedAt = try optional(&r) { Date(timeIntervalSince1970: TimeInterval(Int64(bitPattern: try $0.readUInt64()))) }
        let maxKeyAge = try optional(&r) { Int64(bitPattern: try $0.readUInt64()) }
        var versions: [UInt32: VaultState.KeyVersion] = [:]
        for _ in 0..<(try r.readUInt32()) {
            let number = try r.readUInt32()
            let publicKey = try bytes(&r)
            let postQuantumKey = try optional(&r) { try bytes(&$0) }
            var seals: [String: [UInt8]] = [:]
            for (member, sealed) in try list(&r, { r in (try string(&r), try bytes(&r)) }) { seals[s.canonical(member)] = sealed }
            let adminWrap = try optional(&r) { r in (wrapped: try bytes(&r), adminVersion: try r.readUInt32()) }
            versions[number] = VaultState.KeyVersion(publicKey: publicKey, postQuantumKey: postQuantumKey, seals: seals, adminWrap: adminWrap)
        }
        var role = VaultState.Role(id: id, name: name, kind: kind, clearance: clearance, members: members, versions: versions, currentVersion: current)
        role.rotationDue = rotationDue
        role.keyIssuedAt = keyIssuedAt
        role.maxKeyAge = maxKeyAge
        return role
    }

    private static func version<R: BinaryReading>(_ r: inout R) throws -> VaultState.Version {
        let generation = try r.readUInt32()
        guard let hash = ObjectHash(rawValue: try r.readUInt8()) else { throw FormatError.malformed("vault state", "unknown object hash") }
        let manifest = try ObjectID(bytes: try r.read(32), hash: hash)
        let segments = try list(&r) { try ObjectID(bytes: try $0.read(32), hash: hash) }
        let metadata = try bytes(&r)
        let commitment = try bytes(&r)
        // Version keeps it inline and requires 32 bytes (fuzzing found an empty one trapping there).
        guard commitment.count == 32 else { throw FormatError.malformed("vault state", "commitment is not 32 bytes") }
        var wraps = VaultState.WrapSet()
        for (role, roleVersion, wrapped) in try list(&r, { r in (try RoleID(bytes: try r.read(16)), try r.readUInt32(), try bytes(&r)) }) {
            wraps[role] = VaultState.Wrap(roleVersion: roleVersion, wrapped: wrapped)
        }
        let sealedAt = Date(timeIntervalSince1970: TimeInterval(Int64(bitPattern: try r.readUInt64())))
        let sealedBy = try string(&r)
        let sequence = Int64(bitPattern: try r.readUInt64())
        let revision = try r.readUInt32()
        let previousKey = try optional(&r) { try bytes(&$0) }
        return VaultState.Version(
            generation: generation, manifest: manifest, segments: segments, metadata: metadata, commitment: commitment, wraps: wraps,
            sealedAt: sealedAt, sealedBy: sealedBy, sequence: sequence, revision: revision, previousKey: previousKey)
    }

    private static func list<R: BinaryReading, T>(_ r: inout R, _ each: (inout R) throws -> T) throws -> [T] {
        let count = Int(try r.readUInt32())
        guard count <= r.remaining else { throw FormatError.truncated("vault state") }
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
        guard let s = String(validating: try bytes(&r), as: UTF8.self) else { throw FormatError.malformed("vault state", "string") }
        return s
    }

    private static func json<R: BinaryReading, T: Decodable>(_ type: T.Type, _ r: inout R) throws -> T {
        do {
            return try LedgerJSON.decoder.decode(type, from: Data(try bytes(&r)))
        } catch let error as FormatError {
            throw error
        } catch {
            throw FormatError.malformed("vault state", "\(T.self)")
        }
    }
}

