/// Receives the progress of long work (sealing, opening, backing up) as it
/// goes, to show it to a person: how many bytes lie ahead and how many are
/// done. Reports may come from several threads at once; an implementation
/// must be safe for that, and cheap (it is called once per segment or object).
public protocol ProgressListener: AnyObject, Sendable {
    /// `bytes` more work lies ahead (reported as soon as it is known).
    func expect(_ bytes: UInt64)
    /// `bytes` more work is done.
    func advance(_ bytes: UInt64)
}
