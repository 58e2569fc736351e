import CCurl
import Foundation

/// libcurl easy handles kept between requests, so that a request reuses
/// an open connection to the server (and its TLS session) instead of
/// paying a TCP and TLS handshake each time: what small objects cost is
/// mostly that handshake. A handle is reset before it is lent again
/// (`curl_easy_reset` keeps only its connections and caches, never the
/// previous request's options); one whose request failed in libcurl is
/// closed, not kept. Safe to use from many threads at once: each request
/// has a handle to itself.
final class CurlHandles: @unchecked Sendable {
    /// The most idle handles kept (one per thread that makes requests at once is enough).
    static let maximumIdle = 16

    private let lock = NSLock()
    // Guarded by `lock`.
    private var idle: [UnsafeMutableRawPointer] = []

    /// Runs `body` with a handle of its own, a kept one if any is idle.
    /// - Parameter body: returns its result and whether the handle may be kept
    ///   (false after a transfer libcurl reported as failed).
    func withHandle<T>(_ body: (UnsafeMutableRawPointer) throws -> (result: T, reusable: Bool)) throws -> T {
        guard let handle = lock.withLock({ idle.popLast() }) ?? curl_easy_init() else {
            throw S3Error(reason: "libcurl could not start", kind: .general)
        }
        var reusable = false
        defer { reusable ? release(handle) : curl_easy_cleanup(handle) }
        let (result, keep) = try body(handle)
        reusable = keep
        return result
    }

    private func release(_ handle: UnsafeMutableRawPointer) {
        curl_easy_reset(handle)
        let kept = lock.withLock {
            guard idle.count < Self.maximumIdle else { return false }
            idle.append(handle)
            return true
        }
        if !kept { curl_easy_cleanup(handle) }
    }

    deinit {
        for handle in idle { curl_easy_cleanup(handle) }
    }
}
