import CCurl
import Crypto
import Foundation

/// A failure of the S3-compatible object store, or of the way to it.
public struct S3Error: CofferFailure, Equatable {
    /// What went wrong, for the message.
    public let reason: String
    /// The class of failure (exit code).
    public let kind: FailureKind

    public var description: String { "S3: \(reason)" }
}

/// Where a shared vault's objects live: `s3://BUCKET/PREFIX`.
public struct S3Location: Sendable, Equatable, CustomStringConvertible {
    /// The bucket.
    public let bucket: String
    /// The key prefix every object name is put under (empty, or ending in `/`).
    public let prefix: String

    /// Parses `s3://BUCKET` or `s3://BUCKET/PREFIX`.
    /// - Throws: ``S3Error`` (usage) for anything else.
    public init(_ text: String) throws {
        guard text.hasPrefix("s3://") else { throw S3Error(reason: "an object store is named s3://BUCKET/PREFIX", kind: .usage) }
        let rest = text.dropFirst(5)
        let bucket = String(rest.prefix { $0 != "/" })
        var prefix = String(rest.dropFirst(bucket.count).drop { $0 == "/" })
        guard (3...63).contains(bucket.count), bucket.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "-" || $0 == ".") })
        else { throw S3Error(reason: "a bucket name is 3 to 63 lower-case letters, digits, dots or hyphens", kind: .usage) }
        guard prefix.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_./".contains($0)) }), !prefix.contains("..") else {
            throw S3Error(reason: "an object prefix is ASCII letters, digits, -, _, . and /", kind: .usage)
        }
        if !prefix.isEmpty, !prefix.hasSuffix("/") { prefix += "/" }
        self.bucket = bucket
        self.prefix = prefix
    }

    public var description: String { "s3://\(bucket)/\(prefix)" }
}

/// How to reach S3, from the conventions AWS tools use, so that no secret
/// is ever in a Coffer file or on a command line: `AWS_ENDPOINT_URL`,
/// `AWS_REGION` (or `AWS_DEFAULT_REGION`), `AWS_ACCESS_KEY_ID` and
/// `AWS_SECRET_ACCESS_KEY`, else the `AWS_PROFILE` (or `default`) profile of
/// `~/.aws/credentials` (`AWS_SHARED_CREDENTIALS_FILE`), and `AWS_CA_BUNDLE`
/// for a private certificate authority.
struct S3Configuration: Sendable {
    /// The endpoint, `https://…` (or `http://` for a server on the loopback).
    let endpoint: String
    /// The SigV4 region.
    let region: String
    /// The access key id (not secret).
    let accessKey: String
    /// The secret key, in locked memory.
    let secretKey: SecureBytes
    /// A CA file for the endpoint's certificate.
    let caFile: String?

    /// The configuration from `environment` (and the credentials file it names).
    /// - Throws: ``S3Error`` (usage) naming what is missing.
    static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) throws -> S3Configuration {
        guard let endpoint = environment["AWS_ENDPOINT_URL"], !endpoint.isEmpty else {
            throw S3Error(reason: "set AWS_ENDPOINT_URL to the S3 endpoint (https://…)", kind: .usage)
        }
        guard endpoint.hasPrefix("https://") || endpoint.hasPrefix("http://127.0.0.1") || endpoint.hasPrefix("http://localhost") else {
            throw S3Error(reason: "the S3 endpoint must be https:// (plain http only on the loopback)", kind: .usage)
        }
        let region = environment["AWS_REGION"] ?? environment["AWS_DEFAULT_REGION"] ?? "us-east-1"
        let base = String(endpoint.reversed().drop { $0 == "/" }.reversed())
        if let key = environment["AWS_ACCESS_KEY_ID"], let secret = environment["AWS_SECRET_ACCESS_KEY"], !key.isEmpty, !secret.isEmpty {
            return S3Configuration(
                endpoint: base, region: region, accessKey: key,
                secretKey: SecureBytes.copying(Array(secret.utf8)), caFile: environment["AWS_CA_BUNDLE"])
        }
        let home = environment["HOME"] ?? "/"
        let file = environment["AWS_SHARED_CREDENTIALS_FILE"] ?? home + "/.aws/credentials"
        let profile = environment["AWS_PROFILE"] ?? "default"
        guard let (key, secret) = try credentials(inFile: file, profile: profile) else {
            throw S3Error(reason: "no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or profile [\(profile)] in \(file)", kind: .usage)
        }
        return S3Configuration(
            endpoint: base, region: region, accessKey: key, secretKey: secret,
            caFile: environment["AWS_CA_BUNDLE"])
    }

    /// The key pair of `profile` in an AWS credentials file (INI), if there is one.
    static func credentials(inFile path: String, profile: String) throws -> (String, SecureBytes)? {
        guard FileSystem.exists(path) else { return nil }
        let text = String(decoding: try FileSystem.readSmallFile(path, limit: 1 << 20), as: UTF8.self)
        var section = ""
        var key: String?
        var secret: SecureBytes?
        for raw in text.split(whereSeparator: \.isNewline) {
            let line = String(raw).trimmingWhitespace()
            if line.hasPrefix("["), line.hasSuffix("]") {
                section = String(line.dropFirst().dropLast()).trimmingWhitespace()
                continue
            }
            guard section == profile, let equals = line.firstIndex(of: "=") else { continue }
            let name = String(line[..<equals]).trimmingWhitespace()
            let value = String(line[line.index(after: equals)...]).trimmingWhitespace()
            if name == "aws_access_key_id" { key = value }
            if name == "aws_secret_access_key" { secret = SecureBytes.copying(Array(value.utf8)) }
        }
        guard let key, let secret else { return nil }
        return (key, secret)
    }
}

/// A shared vault's objects in an S3-compatible bucket, through libcurl
/// with SigV4 (docs/SHARED.md). Every object is written once, with
/// `If-None-Match: *`, its SHA-256 signed as `x-amz-content-sha256` (the
/// server refuses a body that does not match); every read is re-hashed
/// against the name, so a bucket operator can delete or damage objects but
/// never make Coffer accept a changed one. Correctness never depends on
/// listing. Path-style URLs: `ENDPOINT/BUCKET/PREFIX/NAME`.
final class S3ObjectStore: Sendable {
    /// The bucket and prefix.
    let location: S3Location
    private let configuration: S3Configuration
    /// Connections kept open between requests.
    private let handles = CurlHandles()

    init(location: S3Location, configuration: S3Configuration) throws {
        guard Self.libraryStarted else { throw S3Error(reason: "libcurl could not start", kind: .general) }
        self.location = location
        self.configuration = configuration
    }

    /// libcurl's global set-up, done once before any thread makes a request
    /// (a lazily initialised static runs exactly once, whatever thread gets there first).
    private static let libraryStarted: Bool = curl_global_init(Int(CURL_GLOBAL_ALL)) == CURLE_OK

    /// Stores `bytes` under `id`, once.
    /// - Returns: true if this call created it; false if it was there already
    ///   (another writer put the same object: its bytes are read back and must hash to the name).
    /// - Throws: ``S3Error``: integrity if what is there under that name does not hash to it.
    @discardableResult
    func put(_ id: ObjectID, _ bytes: [UInt8]) throws -> Bool {
        precondition(id.names(bytes), "an object is put under its own name")
        return try bytes.withUnsafeBytes { try put($0, hashedTo: id) }
    }

    /// ``put(_:_:)`` of bytes the caller has just hashed to `id`. An object
    /// named by SHA-256 is not hashed again for `x-amz-content-sha256`: its
    /// name is that hash (and the server refuses a body that does not match it).
    private func put(_ bytes: UnsafeRawBufferPointer, hashedTo id: ObjectID) throws -> Bool {
        let response = try request(
            "PUT", key: location.prefix + id.description, body: bytes, payloadHash: id.hash == .sha256 ? id.description : nil,
            headers: ["If-None-Match: *", "Content-Type: application/octet-stream"])
        switch response.status {
        case 200: return true
        case 412:
            _ = try get(id)  // there already: it must be this object
            return false
        default: throw failure(response, "PUT \(id)")
        }
    }

    /// The bytes of `id`, checked against its name. A response larger than
    /// any object Coffer writes is cut off and refused.
    /// - Throws: ``ObjectStoreError/missing(_:)`` (404), ``ObjectStoreError/corrupt(_:)``
    ///   (the bytes do not hash to the name), ``ObjectStoreError/oversized(_:_:)``; ``S3Error``.
    func get(_ id: ObjectID) throws -> [UInt8] {
        let response = try request("GET", key: location.prefix + id.description, responseLimit: ObjectStore.maximumObjectSize)
        try requireObject(response, named: id)
        guard id.names(response.body) else { throw ObjectStoreError.corrupt(id) }
        return response.body
    }

    /// ``get(_:)`` straight into `buffer`, with no copy of the object in
    /// between (an object larger than `buffer` is cut off and refused).
    /// - Returns: the object's size.
    func get(_ id: ObjectID, into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let response = try request("GET", key: location.prefix + id.description, responseLimit: buffer.count, into: buffer)
        try requireObject(response, named: id)
        guard id.names(UnsafeRawBufferPointer(rebasing: buffer[..<response.count])) else { throw ObjectStoreError.corrupt(id) }
        return response.count
    }

    /// Throws unless `response` is a whole object.
    private func requireObject(_ response: Response, named id: ObjectID) throws {
        if response.status == 404 { throw ObjectStoreError.missing(id) }
        if response.truncated { throw ObjectStoreError.oversized(id, response.count) }
        guard response.status == 200 else { throw failure(response, "GET \(id)") }
    }

    /// Whether `id` is in the bucket (`HEAD`; its content is not checked).
    func contains(_ id: ObjectID) throws -> Bool {
        let response = try request("HEAD", key: location.prefix + id.description)
        switch response.status {
        case 200: return true
        case 404: return false
        default: throw failure(response, "HEAD \(id)")
        }
    }

    /// Deletes `id` (gone already is not an error).
    func delete(_ id: ObjectID) throws {
        let response = try request("DELETE", key: location.prefix + id.description)
        guard response.status == 204 || response.status == 200 || response.status == 404 else { throw failure(response, "DELETE \(id)") }
    }

    /// Refuses a bucket that is missing or has versioning on (or
    /// suspended): on a versioned bucket, Ceph 16's radosgw does not honour
    /// `If-None-Match: *` (../shared/recipes/ceph-rgw.md), so objects could be
    /// overwritten.
    /// - Throws: ``S3Error``.
    func requireUsableBucket() throws {
        let response = try request("GET", key: "", query: "versioning=")
        guard response.status == 200 else { throw failure(response, "the bucket's versioning") }
        let text = String(decoding: response.body, as: UTF8.self)
        if text.contains("<Status>Enabled</Status>") || text.contains("<Status>Suspended</Status>") {
            throw S3Error(
                reason: "bucket \(location.bucket) has versioning on: Coffer needs conditional creates (If-None-Match: *), which a versioned bucket does not honour here; use a bucket without versioning",
                kind: .usage)
        }
    }

    /// Creates the bucket (for tests and `init` on a server the user runs).
    func createBucket() throws {
        let response = try request("PUT", key: "", body: UnsafeRawBufferPointer(start: nil, count: 0))
        guard response.status == 200 || response.status == 409 else { throw failure(response, "creating bucket \(location.bucket)") }
    }

    // MARK: HTTP

    fileprivate struct Response {
        var status: Int
        /// The body (empty when it went into the request's buffer, unless the status is not 200).
        var body: [UInt8]
        /// Bytes of body received.
        var count: Int
        /// The body went past the request's limit and was cut off.
        var truncated = false
    }

    /// An error for an unexpected status, with the server's error code if it sent one.
    fileprivate func failure(_ response: Response, _ what: String) -> S3Error {
        let text = String(decoding: response.body.prefix(2048), as: UTF8.self)
        let code = text.range(of: "<Code>").flatMap { start in text.range(of: "</Code>").map { String(text[start.upperBound..<$0.lowerBound]) } } ?? ""
        let kind: FailureKind = switch response.status {
        case 403: .accessDenied
        case 404: .notFound
        case 400 where code == "XAmzContentSHA256Mismatch", 400 where code == "BadDigest": .integrity
        case 500...599: .io
        default: .general
        }
        return S3Error(reason: "\(what): HTTP \(response.status)\(code.isEmpty ? "" : " \(code)")", kind: kind)
    }

    /// One signed request. The body's SHA-256 is sent (and signed) as
    /// `x-amz-content-sha256`.
    /// - Parameters:
    ///   - payloadHash: the body's SHA-256 in hex if the caller has it; computed otherwise.
    ///   - responseLimit: the most body bytes taken in; a longer body stops the transfer.
    ///   - destination: where the body goes (at least `responseLimit` bytes); a new array if nil.
    fileprivate func request(
        _ method: String, key: String, query: String = "", body: UnsafeRawBufferPointer? = nil, payloadHash: String? = nil,
        headers: [String] = [], responseLimit: Int = 1 << 20, into destination: UnsafeMutableRawBufferPointer? = nil
    ) throws -> Response {
        let payloadHash = payloadHash ?? Hex.encode(Array(SHA256.hash(data: body ?? UnsafeRawBufferPointer(start: nil, count: 0))))
        let received = Received(limit: responseLimit, destination: destination)
        return try handles.withHandle { curl in
            try request(on: curl, method, key: key, query: query, body: body, payloadHash: payloadHash, headers: headers, into: received)
        }
    }

    /// ``request(_:key:query:body:payloadHash:headers:responseLimit:into:)`` on a
    /// handle; also says whether the handle may be kept for another request.
    private func request(
        on curl: UnsafeMutableRawPointer, _ method: String, key: String, query: String, body: UnsafeRawBufferPointer?, payloadHash: String,
        headers: [String], into received: Received
    ) throws -> (result: Response, reusable: Bool) {
        let path = "/" + location.bucket + (key.isEmpty ? "" : "/" + key)
        let url = configuration.endpoint + path + (query.isEmpty ? "" : "?" + query)
        var list: UnsafeMutablePointer<curl_slist>?
        for header in headers + ["x-amz-content-sha256: \(payloadHash)"] { list = curl_slist_append(list, header) }
        defer { curl_slist_free_all(list) }
        let context = Unmanaged.passUnretained(received).toOpaque()
        var rc = coffer_curl_set_string(curl, CURLOPT_URL, url)
        rc = rc == CURLE_OK ? coffer_curl_set_string(curl, CURLOPT_CUSTOMREQUEST, method) : rc
        rc = rc == CURLE_OK ? coffer_curl_set_string(curl, CURLOPT_AWS_SIGV4, "aws:amz:\(configuration.region):s3") : rc
        rc = rc == CURLE_OK ? coffer_curl_set_string(curl, CURLOPT_USERNAME, configuration.accessKey) : rc
        rc = rc == CURLE_OK ? configuration.secretKey.withUnsafeBytes { secret in
            // A NUL-terminated copy for libcurl (which keeps its own), wiped at once.
            var terminated = [UInt8](repeating: 0, count: secret.count + 1)
            defer { Sodium.wipe(&terminated) }
            terminated.withUnsafeMutableBytes { $0.copyMemory(from: secret) }
            return terminated.withUnsafeBytes { coffer_curl_set_string(curl, CURLOPT_PASSWORD, $0.baseAddress!.assumingMemoryBound(to: CChar.self)) }
        } : rc
        rc = rc == CURLE_OK ? coffer_curl_set_pointer(curl, CURLOPT_HTTPHEADER, list.map { UnsafeMutableRawPointer($0) }) : rc
        rc = rc == CURLE_OK ? coffer_curl_set_write(curl, { data, size, count, context in
            guard let data, let context else { return 0 }
            let received = Unmanaged<Received>.fromOpaque(context).takeUnretainedValue()
            return received.take(UnsafeRawBufferPointer(start: data, count: size * count)) ? size * count : 0  // 0 stops the transfer (CURLE_WRITE_ERROR)
        }, context) : rc
        if method == "HEAD" { rc = rc == CURLE_OK ? coffer_curl_set_long(curl, CURLOPT_NOBODY, 1) : rc }
        rc = rc == CURLE_OK ? coffer_curl_set_long(curl, CURLOPT_PROTOCOLS, Int(CURLPROTO_HTTPS | CURLPROTO_HTTP)) : rc
        rc = rc == CURLE_OK ? coffer_curl_set_long(curl, CURLOPT_NOSIGNAL, 1) : rc
        rc = rc == CURLE_OK ? coffer_curl_set_long(curl, CURLOPT_CONNECTTIMEOUT, NetworkTimeout.seconds) : rc
        // A transfer that stalls (a cut network, a server that stopped answering) fails instead of hanging.
        rc = rc == CURLE_OK ? coffer_curl_set_long(curl, CURLOPT_LOW_SPEED_LIMIT, 1) : rc
        rc = rc == CURLE_OK ? coffer_curl_set_long(curl, CURLOPT_LOW_SPEED_TIME, NetworkTimeout.seconds) : rc
        if let caFile = configuration.caFile { rc = rc == CURLE_OK ? coffer_curl_set_string(curl, CURLOPT_CAINFO, caFile) : rc }
        guard rc == CURLE_OK else { throw S3Error(reason: "libcurl refused an option: \(String(cString: curl_easy_strerror(rc)))", kind: .general) }
        let result = try body.map { bytes -> CURLcode in
            var code = coffer_curl_set_size(curl, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(bytes.count))
            code = code == CURLE_OK ? coffer_curl_set_pointer(curl, CURLOPT_POSTFIELDS, UnsafeMutableRawPointer(mutating: bytes.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!)) : code
            guard code == CURLE_OK else { throw S3Error(reason: "libcurl refused the body", kind: .general) }
            return curl_easy_perform(curl)
        } ?? curl_easy_perform(curl)
        // A transfer cut off mid-body leaves its connection unusable: the handle is closed.
        let status = Int(coffer_curl_response_code(curl))
        if received.truncated { return (received.response(status: status), false) }
        guard result == CURLE_OK else {
            throw S3Error(reason: "\(method) \(path): \(String(cString: curl_easy_strerror(result)))", kind: .io)
        }
        return (received.response(status: status), true)
    }

    /// What a response's body callback collects: into a new array, or into
    /// the caller's buffer.
    private final class Received {
        let limit: Int
        let destination: UnsafeMutableRawBufferPointer?
        var bytes: [UInt8] = []
        var count = 0
        var truncated = false

        init(limit: Int, destination: UnsafeMutableRawBufferPointer?) {
            self.limit = limit
            self.destination = destination
        }

        /// Takes the next part of the body; false (and ``truncated``) past the limit.
        func take(_ part: UnsafeRawBufferPointer) -> Bool {
            guard count + part.count <= limit else {
                truncated = true
                return false
            }
            if let destination {
                UnsafeMutableRawBufferPointer(rebasing: destination[count..<count + part.count]).copyMemory(from: part)
            } else {
                bytes.append(contentsOf: part)
            }
            count += part.count
            return true
        }

        /// The response with this body; a body that went into the buffer is
        /// copied out too when `status` is not 200 (an error's text).
        func response(status: Int) -> Response {
            var body = bytes
            if let destination, status != 200 { body = Array(destination[..<count]) }
            return Response(status: status, body: body, count: count, truncated: truncated)
        }
    }

}

extension S3ObjectStore: ObjectStoring {
    /// 8 MiB segments: half the requests 4 MiB ones take.
    var segmentGeometry: StreamGeometry { .large }

    /// Puts the object at once (``put(_:_:)``): a bucket's `PUT` is durable when it returns.
    func stage(_ bytes: UnsafeRawBufferPointer, bypassingCache: Bool) throws -> StagedObject {
        let id = ObjectID.of(bytes)
        _ = try put(bytes, hashedTo: id)
        return StagedObject(stored: id)
    }

    /// Puts bytes the caller has checked to hash to `id`.
    func stage(_ bytes: UnsafeRawBufferPointer, checkedAs id: ObjectID) throws -> StagedObject {
        _ = try put(bytes, hashedTo: id)
        return StagedObject(stored: id)
    }

    /// ``get(_:)``, which checks every read against the name already.
    func readChecked(_ id: ObjectID) throws -> [UInt8] {
        try get(id)
    }

    /// Nothing to do: every object was stored when it was staged.
    func publish(_ staged: [StagedObject]) {}

    /// Nothing to do: a bucket has no directories.
    func syncDirectories(withPrefixes prefixes: Set<UInt8>) {}

    /// ``get(_:)``: checked against its name.
    func read(_ id: ObjectID) throws -> [UInt8] {
        try get(id)
    }

    /// ``get(_:into:)``: checked against its name.
    func read(_ id: ObjectID, into buffer: UnsafeMutableRawBufferPointer, bypassingCache: Bool) throws -> Int {
        try get(id, into: buffer)
    }
}

extension S3ObjectStore: SweepableObjectStore {
    /// Lists the bucket below the prefix with ListObjectsV2, a page of up to
    /// 1,000 keys at a time (`start-after` the last key seen), and hands the
    /// objects out by leading byte: S3 lists keys in byte order, and an
    /// object's name is its hash in lower-case hex, so each byte's objects
    /// come together. Keys that are not object names are left out (never
    /// deleted); a listing out of order is refused.
    /// - Throws: ``S3Error``.
    func forEachFanOut(_ body: (_ leadingByte: UInt8, _ entries: [StoredEntry]) throws -> Void) throws {
        var pending: UInt16 = 0  // the next leading byte to hand out
        var group: [StoredEntry] = []
        func handOut(through leadingByte: UInt16) throws {
            while pending <= leadingByte {
                try body(UInt8(pending), group)
                group = []
                pending += 1
            }
        }
        var startAfter: String?
        repeat {
            let page = try listPage(startingAfter: startAfter)
            for entry in page.entries {
                let leadingByte = UInt16(entry.id!.leadingByte)
                guard leadingByte >= pending else {
                    throw S3Error(reason: "the listing of \(location) is not in key order", kind: .integrity)
                }
                if leadingByte > pending { try handOut(through: leadingByte - 1) }
                group.append(entry)
            }
            startAfter = page.truncated ? page.lastKey : nil
        } while startAfter != nil
        try handOut(through: 255)
    }

    /// Deletes the objects with these names, several requests at a time.
    func remove(_ names: [String]) throws {
        _ = try ParallelMap.run(names) { name in
            let response = try self.request("DELETE", key: self.location.prefix + name)
            guard response.status == 204 || response.status == 200 || response.status == 404 else { throw self.failure(response, "DELETE \(name)") }
        }
    }

    /// One page of a listing: the objects on it, whether more follow, and its last key.
    private struct ListPage {
        var entries: [StoredEntry] = []
        var truncated = false
        var lastKey: String?
    }

    /// One ListObjectsV2 request below the prefix.
    private func listPage(startingAfter startAfter: String?) throws -> ListPage {
        var query = "list-type=2&max-keys=1000&prefix=" + Self.queryEncoded(location.prefix)
        if let startAfter { query += "&start-after=" + Self.queryEncoded(startAfter) }
        let response = try request("GET", key: "", query: query, responseLimit: 8 << 20)
        guard response.status == 200, !response.truncated else { throw failure(response, "listing \(location)") }
        let text = String(decoding: response.body, as: UTF8.self)
        var page = ListPage(truncated: Self.element("IsTruncated", in: Substring(text)) == "true")
        for block in text.components(separatedBy: "<Contents>").dropFirst() {
            guard let key = Self.element("Key", in: Substring(block)) else { continue }
            page.lastKey = key
            guard key.hasPrefix(location.prefix), let id = try? ObjectID(hex: String(key.dropFirst(location.prefix.count)), hash: .current),
                  let size = Self.element("Size", in: Substring(block)).flatMap(UInt64.init),
                  let modified = Self.element("LastModified", in: Substring(block)).flatMap(Self.parseTime)
            else { continue }
            page.entries.append(StoredEntry(name: id.description, id: id, size: size, modified: modified))
        }
        return page
    }

    /// The text of the first `<name>…</name>` in `xml`.
    private static func element(_ name: String, in xml: Substring) -> String? {
        guard let start = xml.range(of: "<\(name)>"), let end = xml.range(of: "</\(name)>", range: start.upperBound..<xml.endIndex) else { return nil }
        return String(xml[start.upperBound..<end.lowerBound])
    }

    /// An S3 `LastModified` (ISO 8601, with or without fractions of a second), in seconds since 1970.
    private static func parseTime(_ text: String) -> TimeInterval? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = formatter.date(from: text) { return date.timeIntervalSince1970 }
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.date(from: text)?.timeIntervalSince1970
    }

    /// `text` percent-encoded for a query value (all but RFC 3986's unreserved characters, as SigV4 wants).
    private static func queryEncoded(_ text: String) -> String {
        text.utf8.map { byte -> String in
            let unreserved = (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x30 && byte <= 0x39) || "-_.~".utf8.contains(byte)
            return unreserved ? String(UnicodeScalar(byte)) : String(format: "%%%02X", byte)
        }.joined()
    }
}
