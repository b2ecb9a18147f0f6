import CaucusCrypto

extension FuzzTargets {
    /// `MembershipEntry(encoded:)`: any bytes decode or throw `GroupError`; a decoded entry
    /// encodes back to the same bytes.
    static let membershipEntry = FuzzTarget(
        name: "membership-entry",
        summary: "MembershipEntry(encoded:) on any bytes; decoded entries re-encode to the same bytes",
        seeds: { GroupFixture.shared.chains.flatMap { $0.map { $0.encoded() } } },
        check: { input throws(FuzzFailure) in
            guard let entry = try? MembershipEntry(encoded: input) else { return }
            try require(entry.encoded() == input, "a membership entry does not re-encode to its bytes")
        })

    /// A membership chain as a welcome carries it (encoded entries, one after another),
    /// verified as received and again after the fixture admins re-sign each entry they appear to
    /// author, so that hostile admins' changes reach the roster rules. A verified chain keeps its
    /// entries, has an admin, links its head to its last entry, and gives leaves only to devices
    /// of current members.
    static let membershipChain = FuzzTarget(
        name: "membership-chain",
        summary: "MembershipChain.verify on decoded entries, as sent and re-signed by fixture admins",
        seeds: { GroupFixture.shared.chains.map { $0.flatMap { $0.encoded() } } },
        check: { input throws(FuzzFailure) in
            let size = MembershipEntry.encodedByteCount
            var entries: [MembershipEntry] = []
            for start in stride(from: 0, to: input.count - size + 1, by: size) {
                guard let entry = try? MembershipEntry(encoded: Array(input[start..<(start + size)])) else { return }
                entries.append(entry)
            }
            try checkChain(entries)
            try checkChain(entries.map { entry in
                guard let key = GroupFixture.privateKey(of: entry.author) else { return entry }
                return MembershipEntry(groupID: entry.groupID, sequence: entry.sequence, previous: entry.previous,
                                       action: entry.action, author: entry.author, signature: key.signature(for: entry.statement))
            })
        })

    private static func checkChain(_ entries: [MembershipEntry]) throws(FuzzFailure) {
        guard let chain = try? MembershipChain.verify(entries) else { return }
        try require(chain.entries == entries, "a verified chain does not hold the entries it was given")
        try require(chain.roster.values.contains(.admin), "a verified chain leaves the group without an admin")
        try require(chain.head == entries.last?.hash, "a verified chain's head is not its last entry's hash")
        try require(chain.leaves.keys.allSatisfy { device in chain.owner(of: device).map { chain.roster[$0] != nil } == true },
                    "a verified chain gives a leaf to a device no current member owns")
        try require(chain.roster.keys.allSatisfy { member in chain.devices(of: member).allSatisfy { chain.leaves[$0] != nil } },
                    "a verified chain lists a member's device without a leaf")
    }

    /// A group state as the client's store holds it (Protocol.md §8.5, version 4): the core, the
    /// tip, the entries, the pages of remembered hashes and the sender chains, framed one after
    /// another (`GroupStateParts`). Any parts decode or throw `GroupError`; a decoded state's own
    /// parts decode again to the same state.
    static let groupState = FuzzTarget(
        name: "group-state",
        summary: "GroupSession(core:entries:seenPages:chains:tip:) on hostile parts; a decoded state's parts restore it",
        seeds: { [GroupStateParts(GroupFixture.shared.memberAfterMessages).framed] },
        check: { input throws(FuzzFailure) in
            guard let parts = GroupStateParts(framed: input), let state = parts.decoded() else { return }
            let again = GroupStateParts(state)
            guard let restored = again.decoded() else { throw FuzzFailure("a decoded group state's own parts do not decode") }
            try require(GroupStateParts(restored).framed == again.framed, "a decoded group state's own parts restore another state")
        })

    /// `GroupWelcome(serialized:)` and `GroupEpochKey(serialized:)`: any bytes decode or throw; a
    /// decoded one re-serializes to the same bytes; a welcome is then joined (chain verified) and an
    /// epoch key received by the member, which may throw but never crash.
    static let groupWelcome = FuzzTarget(
        name: "group-welcome",
        summary: "GroupWelcome / GroupEpochKey decoding, round trip, then joining or receiving them",
        seeds: {
            let fixture = GroupFixture.shared
            return [fixture.welcome].map { $0.serialized().withUnsafeBytes { Array($0) } }
                + [fixture.epochKey.serialized().withUnsafeBytes { Array($0) }]
        },
        check: { input throws(FuzzFailure) in
            let secure = SecureBytes(copying: input)
            if let welcome = try? GroupWelcome(serialized: secure) {
                try require(welcome.serialized().withUnsafeBytes { Array($0) } == input, "a welcome does not re-serialize to its bytes")
                let me = Fixtures.member.publicKey
                if let joined = try? GroupSession(welcome: welcome, me: me, device: me, from: Fixtures.founder.publicKey) {
                    try require(joined.chain.roster[me] != nil && joined.chain.leaves[me] != nil, "joined a group whose chain does not list me")
                }
            }
            if let key = try? GroupEpochKey(serialized: secure) {
                try require(key.serialized().withUnsafeBytes { Array($0) } == input, "an epoch key does not re-serialize to its bytes")
                var member = GroupFixture.shared.member
                if (try? member.apply(GroupFixture.shared.removal)) != nil {
                    try? member.receive(epochKey: key, from: Fixtures.founder.publicKey)
                }
            }
        })

    /// Group messages as the member receives them: hostile bytes throw `GroupError` and change
    /// nothing; whatever decrypts is one of the founder's messages, from the founder, and cannot be
    /// decrypted twice. The same bytes are parsed as the content inside a message's encryption (what
    /// a hostile member controls).
    static let groupMessage = FuzzTarget(
        name: "group-message",
        summary: "GroupSession.decrypt and the content parser on hostile bytes",
        seeds: {
            let fixture = GroupFixture.shared
            return fixture.messages + [try! Padding.pad(Fixtures.bigEndian(UInt32(2)) + [104, 105, 1] + [UInt8](repeating: 9, count: 96),
                                                        blockSize: GroupSession.paddingBlock)]
        },
        check: { input throws(FuzzFailure) in
            let fixture = GroupFixture.shared
            var member = fixture.member
            if let message = try? member.decrypt(input) {
                try require(fixture.plaintexts.contains(message.plaintext) && message.sender == Fixtures.founder.publicKey,
                            "a group decrypted bytes nobody sent")
                try require((try? member.decrypt(input)) == nil, "a group message decrypted twice")
            }
            if let parsed = try? GroupSession.parseContent(input),
               let content = try? Padding.unpad(input, blockSize: GroupSession.paddingBlock) {
                try require(content.count == 4 + parsed.0.count + 1 + 32 * parsed.1.count + 64,
                            "group content parsed to fields that do not add up to its length")
            }
        })
}

/// The parts of a stored group state in one byte string, for the fuzzer: records of
/// u8 kind ‖ u16 length ‖ body, kind 0 core, 1 tip, 2 entry, 3 page, 4 chain (u64 epoch ‖ part;
/// the part begins with the device's key, as the client reads it).
struct GroupStateParts {
    var core: [UInt8] = []
    var tip: [UInt8]?
    var entries: [[UInt8]] = []
    var pages: [[UInt8]] = []
    var chains: [(GroupSession.ChainID, [UInt8])] = []

    init(_ state: GroupSession) {
        core = state.serializedCore().withUnsafeBytes { Array($0) }
        tip = state.serializedTip()
        entries = (0..<state.entryCount).map(state.entry(at:))
        pages = (0..<state.seenPageCount).map(state.seenPage)
        // In a fixed order (by epoch, then device key), so that equal states frame to equal bytes.
        chains = state.chainIDs.sorted {
            $0.epoch != $1.epoch ? $0.epoch < $1.epoch : $0.device.rawRepresentation.lexicographicallyPrecedes($1.device.rawRepresentation)
        }.map { ($0, state.chainPart($0).withUnsafeBytes { Array($0) }) }
    }

    /// Nil when the framing is broken or a chain's part does not begin with a key.
    init?(framed input: [UInt8]) {
        var offset = 0
        while offset < input.count {
            guard offset + 3 <= input.count else { return nil }
            let kind = input[offset], length = Int(input[offset + 1]) << 8 | Int(input[offset + 2])
            offset += 3
            guard offset + length <= input.count else { return nil }
            let body = Array(input[offset..<(offset + length)])
            offset += length
            switch kind {
            case 0: core = body
            case 1: tip = body
            case 2: entries.append(body)
            case 3: pages.append(body)
            case 4:
                guard body.count >= 40, let device = try? Ed25519.PublicKey(rawRepresentation: Array(body[8..<40])) else { return nil }
                let epoch = body[0..<8].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
                chains.append((GroupSession.ChainID(epoch: epoch, device: device), Array(body[8...])))
            default: return nil
            }
        }
    }

    var framed: [UInt8] {
        var out: [UInt8] = []
        func record(_ kind: UInt8, _ body: [UInt8]) {
            out += [kind, UInt8(body.count >> 8), UInt8(truncatingIfNeeded: body.count)] + body
        }
        record(0, core)
        if let tip { record(1, tip) }
        for entry in entries { record(2, entry) }
        for page in pages { record(3, page) }
        for (id, part) in chains { record(4, Fixtures.bigEndian(id.epoch) + part) }
        return out
    }

    func decoded() -> GroupSession? {
        try? GroupSession(core: SecureBytes(copying: core), entries: entries, seenPages: pages,
                          chains: chains.map { ($0.0, SecureBytes(copying: $0.1)) }, tip: tip)
    }
}
