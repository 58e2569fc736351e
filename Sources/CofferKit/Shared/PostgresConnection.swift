import CPostgres
import Foundation

/// A failure of the PostgreSQL server or of the connection to it.
public struct PostgresError: CofferFailure {
    /// The SQLSTATE code (`40001`, `23505`, …), empty when the connection itself failed.
    public let state: String
    /// libpq's or the server's message. It never holds the password: libpq
    /// does not echo one, and Coffer never puts the connection string in a message.
    public let message: String

    /// SQLSTATE of a unique-key violation (a row that is already there).
    static let uniqueViolation = "23505"

    public var kind: FailureKind {
        // The connection failed, was lost (class 08), or the server is shutting down or restarting (57P01–57P03).
        if state.isEmpty || state.hasPrefix("08") || state.hasPrefix("57P") { return .io }
        return switch state {
        case "28000", "28P01": .authentication
        case Self.uniqueViolation, "40001", "40P01": .concurrentChange
        case "42P06": .conflict  // duplicate_schema: the vault's schema exists
        case "42P01", "3F000": .notFound  // undefined_table, invalid_schema_name: the vault's tables are gone
        case "53100": .io
        default: .general
        }
    }

    public var description: String {
        state.isEmpty ? "PostgreSQL: \(message)" : "PostgreSQL (\(state)): \(message)"
    }
}

/// One synchronous libpq connection, used by one thread at a time.
///
/// Connection settings follow libpq's own conventions, so that credentials
/// stay where users keep them: a `postgresql://` URI or `key=value` string
/// without a password, completed by `PGPASSWORD`, `PGSERVICE`,
/// `~/.pgpass` and `sslmode=verify-full` with `sslrootcert`. Parameters are
/// always sent separately from the SQL text (`PQexecParams`), and results
/// come back in binary.
final class PostgresConnection: SQLStatementRunning, @unchecked Sendable {
    private let connection: OpaquePointer

    /// Connects, with ``NetworkTimeout/postgresDefaults`` for the settings
    /// `conninfo` leaves out (libpq takes the later of two values for one
    /// keyword, and the connection string is expanded after the defaults).
    /// - Parameter conninfo: a libpq connection URI or keyword string.
    /// - Throws: ``PostgresError`` (its message is libpq's, without the string given).
    init(_ conninfo: String) throws {
        let settings = NetworkTimeout.postgresDefaults + [("dbname", conninfo)]
        let connected = Self.withCStrings(settings.map(\.0)) { keywords in
            Self.withCStrings(settings.map(\.1)) { values in PQconnectdbParams(keywords, values, 1) }
        }
        guard let connection = connected else { throw PostgresError(state: "", message: "out of memory") }
        guard PQstatus(connection) == CONNECTION_OK else {
            let message = Self.trimmed(PQerrorMessage(connection))
            PQfinish(connection)
            throw PostgresError(state: "", message: "cannot connect: \(message)")
        }
        // The server's notices (warnings, `NOTICE`s) are not printed: Coffer reports its own errors.
        PQsetNoticeProcessor(connection, { _, _ in }, nil)
        self.connection = connection
    }

    deinit {
        PQfinish(connection)
    }

    /// Calls `body` with a NULL-terminated array of C strings.
    private static func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> R) -> R {
        let copies = strings.map { strdup($0) }
        defer { copies.forEach { free($0) } }
        let pointers: [UnsafePointer<CChar>?] = copies.map { $0.map { UnsafePointer($0) } } + [nil]
        return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
    }

    /// Whether the connection is encrypted with TLS.
    var usesTLS: Bool { PQsslInUse(connection) == 1 }

    /// The server's host name or address (a directory for a Unix socket).
    var host: String { PQhost(connection).map { String(cString: $0) } ?? "" }

    /// Runs statements without parameters or results (`;`-separated).
    /// - Throws: ``PostgresError``.
    func execute(_ sql: String) throws {
        let result = PQexec(connection, sql)
        defer { PQclear(result) }
        try check(result)
    }

    /// Runs one statement with `parameters` (`$1`, `$2`, …) and returns its rows.
    /// - Throws: ``PostgresError``.
    @discardableResult
    func query(_ sql: String, _ parameters: [SQLValue] = []) throws -> [[SQLValue]] {
        // Integers and text go as text, byte strings in binary; every buffer
        // lives until PQexecParams returns.
        let encoded: [[UInt8]?] = parameters.map { value in
            switch value {
            case .null: nil
            case .integer(let n): Array(String(n).utf8) + [0]
            case .text(let s): Array(s.utf8) + [0]
            case .blob(let b): b
            }
        }
        let lengths = parameters.enumerated().map { Int32(encoded[$0.offset]?.count ?? 0) }
        let formats: [Int32] = parameters.map { if case .blob = $0 { 1 } else { 0 } }
        let result = try withPointers(to: encoded) { values in
            PQexecParams(connection, sql, Int32(parameters.count), nil, values, lengths, formats, 1)
        }
        defer { PQclear(result) }
        try check(result)
        return (0..<PQntuples(result)).map { row in
            (0..<PQnfields(result)).map { column in Self.value(result, row: row, column: column) }
        }
    }

    /// Runs `body` in a transaction (`BEGIN` … `COMMIT`), rolled back if it
    /// throws. A connection that is lost before `COMMIT` (a killed client)
    /// is rolled back by the server.
    /// - Throws: what `body` throws, or ``PostgresError``.
    func transaction<R>(_ body: () throws -> R) throws -> R {
        try inTransaction(begin: "BEGIN", body)
    }

    private func withPointers<R>(to buffers: [[UInt8]?], _ body: ([UnsafePointer<CChar>?]) -> R) throws -> R {
        var pointers: [UnsafeMutableRawPointer?] = []
        defer { pointers.forEach { $0?.deallocate() } }
        for buffer in buffers {
            guard let buffer else {
                pointers.append(nil)
                continue
            }
            let pointer = UnsafeMutableRawPointer.allocate(byteCount: max(1, buffer.count), alignment: 1)
            buffer.withUnsafeBytes { pointer.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            pointers.append(pointer)
        }
        return body(pointers.map { $0.map { UnsafePointer($0.assumingMemoryBound(to: CChar.self)) } })
    }

    private func check(_ result: OpaquePointer?) throws {
        let status = result.map(PQresultStatus) ?? PGRES_FATAL_ERROR
        guard status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK else {
            let state = result.flatMap { PQresultErrorField($0, Int32(UInt8(ascii: "C"))) }.map { String(cString: $0) } ?? ""
            let message = Self.trimmed(result.flatMap { PQresultErrorMessage($0) }.map { UnsafePointer($0) })
            throw PostgresError(state: state, message: message.isEmpty ? Self.trimmed(PQerrorMessage(connection)) : message)
        }
    }

    /// A binary-format result cell, by its column's type.
    private static func value(_ result: OpaquePointer?, row: Int32, column: Int32) -> SQLValue {
        guard PQgetisnull(result, row, column) == 0, let raw = PQgetvalue(result, row, column) else { return .null }
        let bytes = Array(UnsafeRawBufferPointer(start: UnsafeRawPointer(raw), count: Int(PQgetlength(result, row, column))))
        switch PQftype(result, column) {
        case 20, 23, 21:  // int8, int4, int2: big-endian two's complement
            return .integer(bytes.reduce(Int64(bytes.first.map { $0 & 0x80 != 0 ? -1 : 0 } ?? 0)) { $0 << 8 | Int64($1) })
        case 16:  // bool
            return .integer(Int64(bytes.first ?? 0))
        case 25, 1043, 19:  // text, varchar, name
            return .text(String(decoding: bytes, as: UTF8.self))
        default:
            return .blob(bytes)
        }
    }

    private static func trimmed(_ message: UnsafePointer<CChar>?) -> String {
        message.map { String(cString: $0).trimmingWhitespace() } ?? ""
    }
}
