import CaucusCrypto
import CaucusPayloads
import Foundation
import GRDB

/// Device chains (Protocol.md §2.2): the last verified chain of an identity, sealed, and when it
/// was last fetched from the relay.
extension StoreTransaction {
    /// The stored chain of `identity` (verified when it was kept; read back without checking its
    /// signatures again, since the sealed store is this identity's own), and when it was fetched;
    /// nil when none is stored.
    public func deviceChain(of identity: Ed25519.PublicKey) throws -> (chain: DeviceChain?, fetchedAt: Int64)? {
        let tag = store.tag(identity.rawRepresentation)
        guard let row = try Row.fetchOne(db, sql: "SELECT sealed, fetched_at FROM device_chains WHERE tag = ?", arguments: [Data(tag)])
        else { return nil }
        let sealed: Data = row[0], fetchedAt: Int64 = row[1]
        let bytes = try store.open(Array(sealed), table: "device_chains", tag: tag)
        var reader = PayloadReader(bytes)
        let count = try reader.u32()
        guard count > 0 else { return (nil, fetchedAt) }
        var entries: [[UInt8]] = []
        for _ in 0..<count { entries.append(try reader.data(limit: DeviceEntry.addByteCount)) }
        do {
            let chain = try DeviceChain.restore(encoded: entries)
            guard chain.identity == identity else { throw damaged("a device chain is kept under another identity") }
            return (chain, fetchedAt)
        } catch let error as DeviceChainError {
            throw damaged("a kept device chain no longer follows its rules: \(error)")
        }
    }

    /// Keeps `chain` (nil: the identity has published none) as `identity`'s, fetched at `fetchedAt`.
    public func saveDeviceChain(_ chain: DeviceChain?, of identity: Ed25519.PublicKey, fetchedAt: Int64) throws {
        var writer = PayloadWriter()
        let entries = chain?.entries ?? []
        writer.u32(UInt32(entries.count))
        for entry in entries { writer.data(entry.encoded()) }
        let tag = store.tag(identity.rawRepresentation)
        try db.execute(sql: "INSERT OR REPLACE INTO device_chains (tag, sealed, fetched_at) VALUES (?, ?, ?)", arguments: [
            Data(tag), Data(store.seal(writer.bytes, table: "device_chains", tag: tag)), fetchedAt,
        ])
    }
}
