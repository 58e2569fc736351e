import Foundation

/// How long a shared vault's client waits on a network that has gone quiet
/// (a cut cable, a server that stopped answering) before it fails with an
/// I/O error (exit 8) instead of hanging: `COFFER_NETWORK_TIMEOUT` seconds,
/// default 30 (at least 2; a non-number counts as unset). It bounds
/// connecting, a transfer to S3 that moves no byte, and a PostgreSQL
/// connection whose packets go unacknowledged (`tcp_user_timeout`) or whose
/// keepalive probes go unanswered.
enum NetworkTimeout {
    /// The timeout, in seconds.
    static let seconds: Int = {
        guard let text = ProcessInfo.processInfo.environment["COFFER_NETWORK_TIMEOUT"], let value = Int(text) else { return 30 }
        return max(2, min(value, 3600))
    }()

    /// libpq settings that make a quiet connection fail within ``seconds``,
    /// used as defaults: a connection string that sets any of them wins.
    static var postgresDefaults: [(String, String)] {
        [
            ("connect_timeout", "\(seconds)"),
            ("keepalives", "1"),
            ("keepalives_idle", "\(max(1, seconds / 3))"),
            ("keepalives_interval", "\(max(1, seconds / 6))"),
            ("keepalives_count", "3"),
            ("tcp_user_timeout", "\(seconds * 1000)"),
        ]
    }
}
