/// Session state for the client's encrypted store (Protocol.md §6.5). The bytes hold secrets.
extension Session {
    static let stateMagic = Array("CSES".utf8)
    static let stateVersion: UInt8 = 1

    /// The whole state, to be stored encrypted and replaced after every `encrypt` or `decrypt`.
    public func serialized() -> SecureBytes {
        var out = Self.stateMagic + [Self.stateVersion, isInitiator ? 1 : 0, awaitingReply ? 1 : 0]
        defer { wipe(&out) }
        out += peerIdentity.rawRepresentation
        out += associatedData
        out += WireMessage.encodePrefix(
            start: start, header: MessageHeader(ratchet: sendingRatchet.publicKey, previousCount: previousSendCount, number: sendCount))
        for secret in [rootKey, sendingRatchet.scalar, sendingChain] {
            secret.withUnsafeBytes { out += $0 }
        }
        if let receivingRatchet, let receivingChain {
            out.append(2)
            out += receivingRatchet.rawRepresentation
            receivingChain.withUnsafeBytes { out += $0 }
        } else if let receivingRatchet {
            out.append(1)
            out += receivingRatchet.rawRepresentation
        } else {
            out.append(0)
        }
        out.appendU32(receiveCount)
        out.appendU32(UInt32(oldReceivingRatchets.count))
        for key in oldReceivingRatchets { out += key.rawRepresentation }
        out.appendU32(UInt32(skipped.order.count))
        for id in skipped.order {
            out += id.ratchet.rawRepresentation
            out.appendU32(id.number)
            skipped.keys[id]!.withUnsafeBytes { out += $0 }
        }
        return SecureBytes(copying: out)
    }

    /// A session restored from `serialized()`.
    public init(serialized state: SecureBytes) throws(SessionError) {
        var bytes = state.withUnsafeBytes { Array($0) }
        defer { wipe(&bytes) }
        var reader = ByteReader(bytes)
        guard try reader.read(4) == Self.stateMagic else { throw SessionError.malformed("not session state") }
        let version = try reader.u8()
        guard version == Self.stateVersion else { throw SessionError.unsupportedVersion(version) }
        let initiatorFlag = try reader.u8(), awaitingFlag = try reader.u8()
        guard initiatorFlag <= 1, awaitingFlag <= 1 else { throw SessionError.malformed("flag out of range") }
        isInitiator = initiatorFlag == 1
        awaitingReply = awaitingFlag == 1
        peerIdentity = try reader.ed25519()
        associatedData = try reader.read(64)
        let prefixStart = reader.offset
        // The start and sending header are stored in wire form; parse them with the wire reader.
        let prefix = try WireMessage.Prefix(parsing: Array(bytes[prefixStart...]))
        _ = try reader.read(prefix.length)
        guard let start = prefix.start else { throw SessionError.malformed("state lacks its session start") }
        self.start = start
        previousSendCount = prefix.header.previousCount
        sendCount = prefix.header.number
        rootKey = SecureBytes(copying: try reader.read(32))
        sendingRatchet = X25519.PrivateKey(scalar: SecureBytes(copying: try reader.read(32)))
        guard sendingRatchet.publicKey == prefix.header.ratchet else { throw SessionError.malformed("ratchet key mismatch") }
        sendingChain = SecureBytes(copying: try reader.read(32))
        switch try reader.u8() {
        case 0: receivingRatchet = nil; receivingChain = nil
        case 1: receivingRatchet = try reader.x25519(); receivingChain = nil
        case 2: receivingRatchet = try reader.x25519(); receivingChain = SecureBytes(copying: try reader.read(32))
        default: throw SessionError.malformed("receiving chain flag out of range")
        }
        receiveCount = try reader.u32()
        let oldCount = Int(try reader.u32())
        guard oldCount <= Self.rememberedRatchetKeys else { throw SessionError.malformed("too many old ratchet keys") }
        oldReceivingRatchets = []
        for _ in 0..<oldCount { oldReceivingRatchets.append(try reader.x25519()) }
        let skippedCount = Int(try reader.u32())
        guard skippedCount <= Self.maximumSkippedKeys else { throw SessionError.malformed("too many skipped keys") }
        skipped = SkippedKeys()
        for _ in 0..<skippedCount {
            let ratchet = try reader.x25519(), number = try reader.u32()
            skipped.insert(ratchet: ratchet, number: number, key: SecureBytes(copying: try reader.read(32)), limit: Self.maximumSkippedKeys)
        }
        guard reader.remaining == 0 else { throw SessionError.malformed("trailing bytes in session state") }
    }
}
