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
final class S3ObjectStore {
    /// The bucket and prefix.
    let location: S3Location
    private let configuration: S3Configuration

    init(location: S3Location, configuration: S3Configuration) {
        self.location = location
        self.configuration = configuration
    }

    /// Stores `bytes` under `id`, once.
    /// - Returns: true if this call created it; false if it was there already
    ///   (another writer put the same object: its bytes are read back and must hash to the name).
    /// - Throws: ``S3Error``: integrity if what is there under that name does not hash to it.
    @discardableResult
    func put(_ id: ObjectID, _ bytes: [UInt8]) throws -> Bool {
        precondition(id.names(bytes), "an object is put under its own name")
        let response = try request("PUT", key: location.prefix + id.description, body: bytes, headers: ["If-None-Match: *", "Content-Type: application/octet-stream"])
        switch response.status {
        case 200: return true
        case 412:
            _ = try get(id)  // there already: it must be this object
            return false
        default: throw failure(response, "PUT \(id)")
        }
    }

    /// The bytes of `id`, checked against its name.
    /// - Throws: ``S3Error``: not found (404), integrity (the bytes do not hash to the name).
    func get(_ id: ObjectID) throws -> [UInt8] {
        let response = try request("GET", key: location.prefix + id.description)
        guard response.status == 200 else { throw failure(response, "GET \(id)") }
        guard id.names(response.body) else {
            throw S3Error(reason: "object \(id) in \(location) does not hash to its name: it was changed", kind: .integrity)
        }
        return response.body
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
        let response = try request("PUT", key: "", body: [])
        guard response.status == 200 || response.status == 409 else { throw failure(response, "creating bucket \(location.bucket)") }
    }

    // MARK: HTTP

    private struct Response {
        var status: Int
        var body: [UInt8]
    }

    /// An error for an unexpected status, with the server's error code if it sent one.
    private func failure(_ response: Response, _ what: String) -> S3Error {
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
    private func request(_ method: String, key: String, query: String = "", body: [UInt8]? = nil, headers: [String] = []) throws -> Response {
        guard let curl = curl_easy_init() else { throw S3Error(reason: "libcurl could not start", kind: .general) }
        defer { curl_easy_cleanup(curl) }
        let path = "/" + location.bucket + (key.isEmpty ? "" : "/" + key)
        let url = configuration.endpoint + path + (query.isEmpty ? "" : "?" + query)
        let payloadHash = Hex.encode(Array(SHA256.hash(data: body ?? [])))
        var list: UnsafeMutablePointer<curl_slist>?
        for header in headers + ["x-amz-content-sha256: \(payloadHash)"] { list = curl_slist_append(list, header) }
        defer { curl_slist_free_all(list) }
        let received = Received()
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
            received.bytes.append(contentsOf: UnsafeRawBufferPointer(start: data, count: size * count))
            return size * count
        }, context) : rc
        if method == "HEAD" { rc = rc == CURLE_OK ? coffer_curl_set_long(curl, CURLOPT_NOBODY, 1) : rc }
        rc = rc == CURLE_OK ? coffer_curl_set_long(curl, CURLOPT_PROTOCOLS, Int(CURLPROTO_HTTPS | CURLPROTO_HTTP)) : rc
        rc = rc == CURLE_OK ? coffer_curl_set_long(curl, CURLOPT_NOSIGNAL, 1) : rc
        rc = rc == CURLE_OK ? coffer_curl_set_long(curl, CURLOPT_CONNECTTIMEOUT, 30) : rc
        if let caFile = configuration.caFile { rc = rc == CURLE_OK ? coffer_curl_set_string(curl, CURLOPT_CAINFO, caFile) : rc }
        guard rc == CURLE_OK else { throw S3Error(reason: "libcurl refused an option: \(String(cString: curl_easy_strerror(rc)))", kind: .general) }
        let result = try body.map { body in
            try body.withUnsafeBytes { bytes -> CURLcode in
                var code = coffer_curl_set_size(curl, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(bytes.count))
                code = code == CURLE_OK ? coffer_curl_set_pointer(curl, CURLOPT_POSTFIELDS, UnsafeMutableRawPointer(mutating: bytes.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!)) : code
                guard code == CURLE_OK else { throw S3Error(reason: "libcurl refused the body", kind: .general) }
                return curl_easy_perform(curl)
            }
        } ?? curl_easy_perform(curl)
        guard result == CURLE_OK else {
            throw S3Error(reason: "\(method) \(path): \(String(cString: curl_easy_strerror(result)))", kind: .io)
        }
        return Response(status: Int(coffer_curl_response_code(curl)), body: received.bytes)
    }

    /// What a response's body callback collects.
    private final class Received {
        var bytes: [UInt8] = []
    }
}
