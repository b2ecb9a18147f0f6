/// A device's group state for the client's encrypted store (Protocol.md §8.5). The bytes hold secrets.
///
/// Stored in parts (version 4), so that a group message, which changes one sender chain and one
/// remembered hash, rewrites only those and a small tip: the core (`serializedCore()`: the device,
/// epochs and their trees), which changes with membership and a device's first message in an
/// epoch; each sender chain on its own (`chainPart(_:)`); the tip (`serializedTip()`: the latest
/// hashes and the ring's counts); the membership entries one by one (append-only); and the ring of
/// remembered hashes in pages of `seenPageSize`. Version 3 was the same without the device (it was
/// the member's identity key); version 2 kept the chains and the tip in the core; version 1 held
/// everything in one piece (`serialized()`). Stores written by older clients still hold them, and
/// they are read.
extension GroupSession {
    static let stateMagic = Array("CGRP".utf8)
    static let wholeStateVersion: UInt8 = 1
    static let chainsInCoreVersion: UInt8 = 2
    static let coreWithoutDeviceVersion: UInt8 = 3
    static let coreVersion: UInt8 = 4
    /// Remembered hashes per stored page.
    public static let seenPageSize = 64

    // MARK: Version 4, in parts

    /// The core of the state, version 4: the device, the epochs without their sender chains, and
    /// the removals awaiting keys. The rest is stored apart (`entry(at:)`, `seenPage(_:)`,
    /// `chainPart(_:)`, `serializedTip()`).
    public func serializedCore() -> SecureBytes {
        var out = header(version: Self.coreVersion)
        defer { wipe(&out) }
        appendEpochs(to: &out, withChains: false)
        return SecureBytes(copying: out)
    }

    /// The core as version 2 had it (chains and tip inside), for the tests that make such stores.
    /// Only a first device's state has that form.
    package func serializedCoreVersion2() -> SecureBytes {
        precondition(device == me, "a version 2 state has no device other than the identity")
        var out = header(version: Self.chainsInCoreVersion)
        defer { wipe(&out) }
        appendEpochs(to: &out, withChains: true)
        out += serializedTip()
        return SecureBytes(copying: out)
    }

    /// Whether the core differs from `previous`'s (a changed membership or tree). Compared in
    /// place: the cores hold secrets, and no copy is left behind.
    public func coreChanged(since previous: GroupSession) -> Bool {
        let mine = serializedCore(), theirs = previous.serializedCore()
        return !mine.withUnsafeBytes { a in theirs.withUnsafeBytes { b in a.elementsEqual(b) } }
    }

    /// What changes with every message besides a chain and a page: the latest hashes (for `prev`)
    /// and the ring's count and cursor.
    public func serializedTip() -> [UInt8] {
        var out: [UInt8] = []
        appendRecent(to: &out)
        out.appendU32(UInt32(seenOrder.count))
        out.appendU32(UInt32(seenCursor))
        return out
    }

    /// A sender chain's place: its epoch and its sending device.
    public struct ChainID: Hashable, Sendable {
        /// The epoch the chain belongs to.
        public let epoch: UInt64
        /// The device that sends with it (a member's identity key for its first device).
        public let device: Ed25519.PublicKey
        /// The chain of `device` in `epoch`.
        public init(epoch: UInt64, device: Ed25519.PublicKey) {
            self.epoch = epoch
            self.device = device
        }
    }

    /// Every sender chain held, by epoch and device.
    public var chainIDs: [ChainID] {
        epochs.flatMap { number, epoch in epoch.senders.keys.map { ChainID(epoch: number, device: $0) } }
    }

    /// One sender chain: device (32) ‖ chain key (32) ‖ u32 next ‖ u32 m ‖ m × (u32 counter ‖ key (32)).
    public func chainPart(_ id: ChainID) -> SecureBytes {
        var out: [UInt8] = []
        defer { wipe(&out) }
        if let chain = epochs[id.epoch]?.senders[id.device] { Self.append(id.device, chain, to: &out) }
        return SecureBytes(copying: out)
    }

    /// The chains that differ from `previous`'s or that it did not have.
    public func chainsChanged(since previous: GroupSession) -> [ChainID] {
        chainIDs.filter { id in
            guard let old = previous.epochs[id.epoch]?.senders[id.device], let new = epochs[id.epoch]?.senders[id.device] else {
                return true
            }
            return old.next != new.next || old.skipped.count != new.skipped.count
                || !old.chainKey.withUnsafeBytes { a in new.chainKey.withUnsafeBytes { b in a.elementsEqual(b) } }
        }
    }

    /// The numbers of the epochs held, ascending: a stored chain of any other epoch is stale.
    public var epochNumbers: [UInt64] { epochs.keys.sorted() }

    /// How many membership entries the chain holds.
    public var entryCount: Int { chain.entries.count }

    /// The membership entry at `index` (its sequence), encoded as in §8.1.
    public func entry(at index: Int) -> [UInt8] { chain.entries[index].encoded() }

    /// Whether this state's chain continues `previous`'s (the same entries, maybe more after them),
    /// so that only the entries from `previous.entryCount` on need storing.
    public func chainExtends(_ previous: GroupSession) -> Bool {
        let count = previous.chain.entries.count
        guard count <= chain.entries.count, previous.groupID == groupID else { return false }
        return count == 0 || chain.entries[count - 1] == previous.chain.entries[count - 1]
    }

    /// How many pages the remembered hashes fill.
    public var seenPageCount: Int { (seenOrder.count + Self.seenPageSize - 1) / Self.seenPageSize }

    /// Page `page` of the remembered hashes, in their places in the ring (not oldest first).
    public func seenPage(_ page: Int) -> [UInt8] {
        let start = page * Self.seenPageSize, end = min(seenOrder.count, start + Self.seenPageSize)
        var out: [UInt8] = []
        out.reserveCapacity((end - start) * 32)
        for hash in seenOrder[start..<end] { out += hash }
        return out
    }

    /// The pages of remembered hashes that differ from `previous`'s (all of them when it has fewer).
    public func seenPagesChanged(since previous: GroupSession) -> [Int] {
        (0..<seenPageCount).filter { page in
            let start = page * Self.seenPageSize, end = min(seenOrder.count, start + Self.seenPageSize)
            return end > previous.seenOrder.count || seenOrder[start..<end] != previous.seenOrder[start..<end]
        }
    }

    /// A state restored from its parts: `serializedCore()`, every entry from `entry(at:)` in
    /// order, every page from `seenPage(_:)` in order, every chain from `chainPart(_:)` and the
    /// tip from `serializedTip()`. A version 3 core (the same parts, no device: the state of a first
    /// device), a version 2 core (chains and tip inside, none given) and a version 1 state
    /// (`serialized()`, nothing beside it) are read too.
    public init(core: SecureBytes, entries: [[UInt8]], seenPages: [[UInt8]],
                chains: [(ChainID, SecureBytes)] = [], tip: [UInt8]? = nil) throws(GroupError) {
        var bytes = core.withUnsafeBytes { Array($0) }
        defer { wipe(&bytes) }
        var reader = ByteReader(bytes)
        do {
            guard try reader.read(4) == Self.stateMagic else { throw GroupError.malformed("not group state") }
            let version = try reader.u8()
            if version == Self.wholeStateVersion, entries.isEmpty, seenPages.isEmpty, chains.isEmpty, tip == nil {
                try self.init(wholeState: &reader)
                return
            }
            let inParts = version == Self.coreVersion || version == Self.coreWithoutDeviceVersion
            guard inParts && tip != nil || version == Self.chainsInCoreVersion && chains.isEmpty && tip == nil
            else { throw GroupError.malformed("unsupported group state version \(version), or parts that do not belong to it") }
            let me = try reader.ed25519()
            let device = version == Self.coreVersion ? try reader.ed25519() : me
            let currentEpoch = try reader.u64()
            guard Int(try reader.u32()) == entries.count, !entries.isEmpty else { throw GroupError.malformed("entry count") }
            let decodedEntries = try entries.map { bytes throws(GroupError) in
                var entryReader = ByteReader(bytes)
                let entry = try MembershipEntry(reading: &entryReader)
                guard entryReader.remaining == 0 else { throw GroupError.malformed("trailing bytes in a membership entry") }
                return entry
            }
            var parts = try Self.readEpochs(&reader, withChains: version == Self.chainsInCoreVersion)
            var tipReader = ByteReader(tip ?? [])
            if version == Self.chainsInCoreVersion {
                parts.recent = try Self.readRecent(&reader)
            } else {
                guard reader.remaining == 0 else { throw GroupError.malformed("trailing bytes in group state") }
                parts.recent = try Self.readRecent(&tipReader)
                try Self.add(chains, to: &parts)
                reader = tipReader
            }
            let seenCount = Int(try reader.u32()), cursor = Int(try reader.u32())
            guard seenCount <= Self.rememberedMessages,
                  cursor == 0 || (seenCount == Self.rememberedMessages && cursor < seenCount),
                  seenPages.count == (seenCount + Self.seenPageSize - 1) / Self.seenPageSize
            else { throw GroupError.malformed("seen count") }
            var seen: [[UInt8]] = []
            seen.reserveCapacity(seenCount)
            for (index, page) in seenPages.enumerated() {
                let expected = min(Self.seenPageSize, seenCount - index * Self.seenPageSize)
                guard page.count == expected * 32 else { throw GroupError.malformed("seen page \(index)") }
                for offset in stride(from: 0, to: page.count, by: 32) { seen.append(Array(page[offset..<offset + 32])) }
            }
            guard reader.remaining == 0 else { throw GroupError.malformed("trailing bytes in group state") }
            try self.init(me: me, device: device, currentEpoch: currentEpoch, entries: decodedEntries, parts: parts,
                          seenOrder: seen, seenCursor: cursor)
        } catch let error as GroupError {
            throw error
        } catch {
            throw GroupError.malformed("truncated group state")
        }
    }

    // MARK: Version 1, in one piece

    /// The whole state in one piece, version 1, as clients before version 2 stored it. Kept for
    /// the tests that make such stores; this client stores the parts. Only a first device's state has that form.
    package func serialized() -> SecureBytes {
        precondition(device == me, "a version 1 state has no device other than the identity")
        var out = header(version: Self.wholeStateVersion)
        defer { wipe(&out) }
        for entry in chain.entries { out += entry.encoded() }
        appendEpochs(to: &out, withChains: true)
        appendRecent(to: &out)
        // Seen hashes oldest first, so the ring restores in the same order.
        let ordered = seenOrder.count < Self.rememberedMessages
            ? seenOrder : Array(seenOrder[seenCursor...] + seenOrder[..<seenCursor])
        out.appendU32(UInt32(ordered.count))
        for hash in ordered { out += hash }
        return SecureBytes(copying: out)
    }

    /// A state restored from `serialized()`.
    package init(serialized state: SecureBytes) throws(GroupError) {
        try self.init(core: state, entries: [], seenPages: [])
    }

    /// The rest of a version 1 state, after its magic and version.
    private init(wholeState reader: inout ByteReader) throws {
        let me = try reader.ed25519()
        let currentEpoch = try reader.u64()
        let entryCount = Int(try reader.u32())
        guard entryCount >= 1, entryCount <= reader.remaining / MembershipEntry.encodedByteCount else {
            throw GroupError.malformed("entry count")
        }
        var entries = [MembershipEntry]()
        for _ in 0..<entryCount { entries.append(try MembershipEntry(reading: &reader)) }
        var parts = try Self.readEpochs(&reader, withChains: true)
        parts.recent = try Self.readRecent(&reader)
        let seenCount = Int(try reader.u32())
        guard seenCount <= Self.rememberedMessages else { throw GroupError.malformed("seen count") }
        var seen: [[UInt8]] = []
        for _ in 0..<seenCount { seen.append(try reader.read(32)) }
        guard reader.remaining == 0 else { throw GroupError.malformed("trailing bytes in group state") }
        try self.init(me: me, device: me, currentEpoch: currentEpoch, entries: entries, parts: parts, seenOrder: seen, seenCursor: 0)
    }

    // MARK: What the versions share

    private typealias EpochRecord = (number: UInt64, headerKey: SymmetricKey, successor: SecureBytes, tree: SecretTree,
                                     senders: [Ed25519.PublicKey: SenderChain])

    /// The fields both versions hold after the chain: epochs, awaited removals, latest hashes.
    private struct StoredParts {
        var epochs: [EpochRecord] = []
        var awaiting = Set<UInt64>()
        var recent: [[UInt8]] = []
    }

    /// Magic, version, `me`, the device (version 4 on), the current epoch and the entry count: how every version begins.
    private func header(version: UInt8) -> [UInt8] {
        var out = Self.stateMagic + [version]
        out += me.rawRepresentation
        if version >= Self.coreVersion { out += device.rawRepresentation }
        out.appendU64(currentEpoch)
        out.appendU32(UInt32(chain.entries.count))
        return out
    }

    private func appendEpochs(to out: inout [UInt8], withChains: Bool) {
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
            guard withChains else { continue }
            out.appendU32(UInt32(epoch.senders.count))
            for (device, chain) in epoch.senders.sorted(by: { $0.key.rawRepresentation.lexicographicallyPrecedes($1.key.rawRepresentation) }) {
                Self.append(device, chain, to: &out)
            }
        }
        out.appendU32(UInt32(awaitingKeys.count))
        for number in awaitingKeys.keys.sorted() { out.appendU64(number) }
    }

    private func appendRecent(to out: inout [UInt8]) {
        out.append(UInt8(recent.count))
        for hash in recent { out += hash }
    }

    private static func append(_ device: Ed25519.PublicKey, _ chain: SenderChain, to out: inout [UInt8]) {
        out += device.rawRepresentation
        chain.chainKey.withUnsafeBytes { out += $0 }
        out.appendU32(chain.next)
        out.appendU32(UInt32(chain.skipped.count))
        for (counter, key) in chain.skipped.sorted(by: { $0.key < $1.key }) {
            out.appendU32(counter)
            key.withUnsafeBytes { out += $0 }
        }
    }

    private static func readChain(_ reader: inout ByteReader) throws -> (Ed25519.PublicKey, SenderChain) {
        let device = try reader.ed25519()
        var chain = SenderChain(chainKey: SecureBytes(copying: try reader.read(32)))
        chain.next = try reader.u32()
        let skippedCount = Int(try reader.u32())
        guard skippedCount <= SenderChain.maximumSkipped else { throw GroupError.malformed("skipped keys") }
        for _ in 0..<skippedCount { chain.skipped[try reader.u32()] = SecureBytes(copying: try reader.read(32)) }
        return (device, chain)
    }

    /// Puts each stored chain into its epoch; a chain of an epoch not held, or given twice, or
    /// whose bytes name another device than its place, is refused.
    private static func add(_ chains: [(ChainID, SecureBytes)], to parts: inout StoredParts) throws {
        var index: [UInt64: Int] = [:]
        for (offset, epoch) in parts.epochs.enumerated() { index[epoch.number] = offset }
        for (id, bytes) in chains {
            var plain = bytes.withUnsafeBytes { Array($0) }
            defer { wipe(&plain) }
            var reader = ByteReader(plain)
            let (device, chain) = try readChain(&reader)
            guard reader.remaining == 0, device == id.device else { throw GroupError.malformed("sender chain") }
            guard let offset = index[id.epoch] else { throw GroupError.malformed("a sender chain of an epoch not held") }
            guard parts.epochs[offset].senders[device] == nil else { throw GroupError.malformed("a sender chain twice") }
            parts.epochs[offset].senders[device] = chain
        }
    }

    private static func readRecent(_ reader: inout ByteReader) throws -> [[UInt8]] {
        let recentCount = Int(try reader.u8())
        guard recentCount <= Self.previousCount else { throw GroupError.malformed("recent count") }
        var recent: [[UInt8]] = []
        for _ in 0..<recentCount { recent.append(try reader.read(32)) }
        return recent
    }

    private static func readEpochs(_ reader: inout ByteReader, withChains: Bool) throws -> StoredParts {
        var parts = StoredParts()
        for _ in 0..<Int(try reader.u32()) {
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
            if withChains {
                for _ in 0..<Int(try reader.u32()) {
                    let (device, chain) = try readChain(&reader)
                    senders[device] = chain
                }
            }
            parts.epochs.append((number, headerKey, successor, SecretTree(size: size, nodes: nodes), senders))
        }
        for _ in 0..<Int(try reader.u32()) { parts.awaiting.insert(try reader.u64()) }
        return parts
    }

    /// Replays the stored chain (not re-verified: the store is the member's own, sealed under its
    /// passphrase), keeping the devices' leaves right after each entry that an epoch needs.
    private init(me: Ed25519.PublicKey, device: Ed25519.PublicKey, currentEpoch: UInt64, entries: [MembershipEntry], parts: StoredParts,
                 seenOrder: [[UInt8]], seenCursor: Int) throws(GroupError) {
        let needed = Set(parts.epochs.map(\.number)).union(parts.awaiting)
        var replay: MembershipChain
        do { replay = try MembershipChain(creation: entries[0]) } catch let error { throw GroupError.membership(error) }
        var snapshots = [UInt64: ([Ed25519.PublicKey: UInt32], UInt32)]()
        if needed.contains(0) { snapshots[0] = (replay.leaves, replay.leafCount) }
        for entry in entries.dropFirst() {
            do { try replay.append(entry, signatureValid: true) } catch let error { throw GroupError.membership(error) }
            if needed.contains(entry.sequence) { snapshots[entry.sequence] = (replay.leaves, replay.leafCount) }
        }
        guard device == me || replay.owner(of: device) == me else { throw GroupError.malformed("the device is not the member's") }
        self.me = me
        self.device = device
        self.currentEpoch = currentEpoch
        chain = replay
        for record in parts.epochs {
            guard let (leaves, _) = snapshots[record.number] else { throw GroupError.malformed("epoch \(record.number) not in chain") }
            epochs[record.number] = GroupEpoch(number: record.number, headerKey: record.headerKey, leaves: leaves,
                                               tree: record.tree, senders: record.senders, successorSeed: record.successor)
        }
        for number in parts.awaiting {
            guard let snapshot = snapshots[number] else { throw GroupError.malformed("epoch \(number) not in chain") }
            awaitingKeys[number] = snapshot
        }
        recent = parts.recent
        self.seenOrder = seenOrder
        self.seenCursor = seenCursor
        seen = Set(seenOrder)
        guard seen.count == seenOrder.count else { throw GroupError.malformed("a remembered hash twice") }
    }
}
