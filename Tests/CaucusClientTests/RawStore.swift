@testable import CaucusClient
@testable import CaucusClientStore
import GRDB

extension Account {
    /// Reads the account's store with SQL, past the store layer (tests that look at the file's
    /// rows, or make them look like an older client's).
    func rawRead<T>(_ body: (Database) throws -> T) throws(ClientError) -> T {
        try read { tx in try body(tx.db) }
    }

    /// Writes the account's store with SQL, in one transaction, past the store layer.
    func rawWrite<T>(_ body: (Database) throws -> T) throws(ClientError) -> T {
        try write { tx in try body(tx.db) }
    }
}
