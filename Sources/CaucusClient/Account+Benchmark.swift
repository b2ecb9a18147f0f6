import CaucusCrypto
import Foundation
import GRDB

/// What benchmarks need and workers never do.
extension Account {
    /// Founds a group of this user (its admin) and `members`, in one epoch, and stores it as
    /// `createGroup` and admitted invites would, without a relay and without telling the members:
    /// for measuring what a group of that size costs this user's client. Returns the group's id.
    package func foundGroupForBenchmark(name: String, members: [Ed25519.PublicKey]) throws(ClientError) -> [UInt8] {
        let session: GroupSession
        do { (session, _) = try GroupSession.found(founder: identity, members: members.map { ($0, .member) }) } catch {
            throw ClientError.invalidArgument("cannot found the group: \(error)")
        }
        let info = GroupInfo(groupID: Hex.encode(session.groupID), name: name)
        try write { db in try saveGroup(db, info, session, routing: Ed25519.PrivateKey()) }
        return session.groupID
    }

    /// The size of a group's stored state (sealed, all parts), in bytes.
    package func storedGroupStateBytes(_ groupID: [UInt8]) throws(ClientError) -> Int {
        try read { db in
            let tag = Data(store.tag(groupID))
            return try Int.fetchOne(db, sql: """
                SELECT (SELECT COALESCE(SUM(length(state)), 0) FROM groups WHERE tag = ?1)
                     + (SELECT COALESCE(SUM(length(sealed)), 0) FROM group_entries WHERE grp = ?1)
                     + (SELECT COALESCE(SUM(length(sealed)), 0) FROM group_seen WHERE grp = ?1)
                """, arguments: [tag]) ?? 0
        }
    }
}
