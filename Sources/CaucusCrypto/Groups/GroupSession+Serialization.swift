/// A member's group state for the client's encrypted store (Protocol.md §8.5). The bytes hold secrets.
extension GroupSession {
    static let stateMagic = Array("CGRP".utf8)
    static let stateVersion: UInt8 = 1

    /// The whole state, to be stored encrypted and replaced after every change.
    public func serialized() -> SecureBytes {
        var out = Self.stateMagic + [Self.stateVersion]
        defer { wipe(&out) }
        out += me.rawRepresentation
        out.appendU64(currentEpoch)
        out.appendU32(UInt32(chain.entries.count))
        for entry in chain.entries { out += entry.encoded() }
        out.appendU32(UInt32(epochs.count))
        for (number, epoch) in epochs.sorted(by: { $0.key < $1.key }) {
            out.appendU64(number)
            epoch.headerKey.bytes.withUnsafeBytes { out += $0 }
            epoch.successorSeed.withUnsafeBytes { out += $0 }
            out.appendU32(epoch.tree.size)
            out.appendU32(UInt32(epoch.tree.nodes.count))
            for (span, secret) in epoch.tree.nodes.sorted(by: { $0.key.lo < $1.key.lo }) {
                out.appendU32(span.lo)
                out.appendU32(span.hi)
                secret.withUnsafeBytes { out += $0 }
            }
            out.appendU32(UInt32(epoch.senders.count))
            for (member, chain) in epoch.senders.sorted(by: { $0.key.rawRepresentation.lexicographicallyPrecedes($1.key.rawRepresentation) }) {
                out += member.rawRepresentation
                chain.chainKey.withUnsafeBytes { out += $0 }
                out.appendU32(chain.next)
                out.appendU32(UInt32(chain.skipped.count))
                for (counter, key) in chain.skipped.sorted(by: { $0.key < $1.key }) {
                    out.appendU32(counter)
                    key.withUnsafeBytes { out += $0 }
                }
            }
        }
        out.appendU32(UInt32(awaitingKeys.count))
        for number in awaitingKeys.keys.sorted() { out.appendU64(number) }
        out.append(UInt8(recent.count))
        for hash in recent { out += hash }
        // Seen hashes oldest first, so the ring restores in the same order.
        let ordered = seenOrder.count < Self.rememberedMessages
            ? seenOrder : Array(seenOrder[seenCursor...] + seenOrder[..<seenCursor])
        out.appendU32(UInt32(ordered.count))
        for hash in ordered { out += hash }
        return SecureBytes(copying: out)
    }

    /// A state restored from `serialized()`. The stored chain is replayed, not re-verified: the
    /// store is the member's own, sealed under its passphrase.
    public init(serialized state: SecureBytes) throws(GroupError) {
        var bytes = state.withUnsafeBytes { Array($0) }
        defer { wipe(&bytes) }
        var reader = ByteReader(bytes)
        do {
            guard try reader.read(4) == Self.stateMagic else { throw GroupError.malformed("not group state") }
            let version = try reader.u8()
            guard version == Self.stateVersion else { throw GroupError.malformed("unsupported group state version \(version)") }
            me = try reader.ed25519()
            currentEpoch = try reader.u64()
            let entryCount = Int(try reader.u32())
            guard entryCount >= 1, entryCount <= reader.remaining / MembershipEntry.encodedByteCount else {
                throw GroupError.malformed("entry count")
            }
            var entries = [MembershipEntry]()
            for _ in 0..<entryCount { entries.append(try MembershipEntry(reading: &reader)) }
            // Replay the chain, keeping the members right after each entry that an epoch needs.
            let epochCount = Int(try reader.u32())
            var epochRecords = [(UInt64, SymmetricKey, SecureBytes, SecretTree, [Ed25519.PublicKey: SenderChain])]()
            for _ in 0..<epochCount {
                let number = try reader.u64()
                let headerKey = try SymmetricKey(bytes: SecureBytes(copying: try reader.read(32)))
                let successor = SecureBytes(copying: try reader.read(32))
                let size = try reader.u32()
                var nodes = [SecretTree.Span: SecureBytes]()
                for _ in 0..<Int(try reader.u32()) {
                    let span = SecretTree.Span(lo: try reader.u32(), hi: try reader.u32())
                    guard span.lo < span.hi, span.hi <= size else { throw GroupError.malformed("tree node out of range") }
                    nodes[span] = SecureBytes(copying: try reader.read(32))
                }
                var senders = [Ed25519.PublicKey: SenderChain]()
                for _ in 0..<Int(try reader.u32()) {
                    let member = try reader.ed25519()
                    var chain = SenderChain(chainKey: SecureBytes(copying: try reader.read(32)))
                    chain.next = try reader.u32()
                    let skippedCount = Int(try reader.u32())
                    guard skippedCount <= SenderChain.maximumSkipped else { throw GroupError.malformed("skipped keys") }
                    for _ in 0..<skippedCount { chain.skipped[try reader.u32()] = SecureBytes(copying: try reader.read(32)) }
                    senders[member] = chain
                }
                epochRecords.append((number, headerKey, successor, SecretTree(size: size, nodes: nodes), senders))
            }
            var awaiting = Set<UInt64>()
            for _ in 0..<Int(try reader.u32()) { awaiting.insert(try reader.u64()) }
            let needed = Set(epochRecords.map(\.0)).union(awaiting)
            var replay: MembershipChain
            do { replay = try MembershipChain(creation: entries[0]) } catch let error { throw GroupError.membership(error) }
            var snapshots = [UInt64: ([Ed25519.PublicKey: UInt32], UInt32)]()
            if needed.contains(0) { snapshots[0] = (replay.leaves, replay.leafCount) }
            for entry in entries.dropFirst() {
                do { try replay.append(entry, signatureValid: true) } catch let error { throw GroupError.membership(error) }
                if needed.contains(entry.sequence) { snapshots[entry.sequence] = (replay.leaves, replay.leafCount) }
            }
            chain = replay
            for (number, headerKey, successor, tree, senders) in epochRecords {
                guard let (members, _) = snapshots[number] else { throw GroupError.malformed("epoch \(number) not in chain") }
                epochs[number] = GroupEpoch(number: number, headerKey: headerKey, members: members, tree: tree,
                                            senders: senders, successorSeed: successor)
            }
            for number in awaiting {
                guard let snapshot = snapshots[number] else { throw GroupError.malformed("epoch \(number) not in chain") }
                awaitingKeys[number] = snapshot
            }
            let recentCount = Int(try reader.u8())
            guard recentCount <= Self.previousCount else { throw GroupError.malformed("recent count") }
            for _ in 0..<recentCount { recent.append(try reader.read(32)) }
            let seenCount = Int(try reader.u32())
            guard seenCount <= Self.rememberedMessages else { throw GroupError.malformed("seen count") }
            for _ in 0..<seenCount {
                let hash = try reader.read(32)
                seen.insert(hash)
                seenOrder.append(hash)
            }
            guard reader.remaining == 0 else { throw GroupError.malformed("trailing bytes in group state") }
        } catch let error as GroupError {
            throw error
        } catch {
            throw GroupError.malformed("truncated group state")
        }
    }
}
