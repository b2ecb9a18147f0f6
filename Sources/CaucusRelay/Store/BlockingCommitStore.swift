import Foundation

/// A store whose commit can run on the calling thread (SQLite, which syncs its own file). The
/// group committer calls it from its own thread, so a commit costs no hand-off to the store's
/// queue and back; nothing on the cooperative pool ever blocks on it.
public protocol BlockingCommitStore: RelayStore {
    /// `commit(_:)`, returning only once the commit returned (synced), on the calling thread.
    func commitBlocking(_ batch: WriteBatch) throws -> WriteBatchResult
}
