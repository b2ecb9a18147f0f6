/// A one-to-one session message on the wire (Protocol.md §6.3):
/// `type ‖ [start] ‖ header ‖ AEAD message`.
struct WireMessage {
    static let typeStart: UInt8 = 0x01
    static let typeNormal: UInt8 = 0x02
    /// A hybrid start: a classical start's fields, then the KEM prekey id and ML-KEM ciphertext.
    static let typeHybridStart: UInt8 = 0x03

    /// Whether `message` is a session start (its type byte; nothing else is read).
    static func isStart(_ message: [UInt8]) -> Bool { message.first == typeStart || message.first == typeHybridStart }

    /// The type byte, the start (in a start message) and the ratchet header.
    struct Prefix {
        let start: SessionStart?
        let header: MessageHeader
        /// How many bytes the prefix took.
        let length: Int

        /// Parses the prefix at the front of `bytes`; what follows is not read.
        init(parsing bytes: [UInt8]) throws(SessionError) {
            var reader = ByteReader(bytes)
            let type = try reader.u8()
            switch type {
            case WireMessage.typeStart, WireMessage.typeHybridStart:
                let initiator = try reader.ed25519()
                let ephemeral = try reader.x25519()
                let signedPrekeyID = try reader.u32()
                let flag = try reader.u8()
                guard flag <= 1 else { throw SessionError.malformed("one-time prekey flag must be 0 or 1") }
                let oneTime = flag == 1 ? try reader.u32() : nil
                let kem = type == WireMessage.typeHybridStart
                    ? KEMStart(prekeyID: try reader.u32(), ciphertext: try reader.read(MLKEM.ciphertextByteCount)) : nil
                start = SessionStart(
                    initiator: initiator, ephemeral: ephemeral, signedPrekeyID: signedPrekeyID, oneTimePrekeyID: oneTime, kem: kem)
            case WireMessage.typeNormal:
                start = nil
            default:
                throw SessionError.unsupportedVersion(type)
            }
            header = MessageHeader(ratchet: try reader.x25519(), previousCount: try reader.u32(), number: try reader.u32())
            length = reader.offset
        }
    }

    let start: SessionStart?
    let header: MessageHeader
    /// Every byte before the AEAD message, bound to it as associated data.
    let authenticatedPrefix: [UInt8]
    /// nonce ‖ ciphertext ‖ tag (a view into the received bytes, not a copy).
    let body: ArraySlice<UInt8>

    init(parsing bytes: [UInt8]) throws(SessionError) {
        let prefix = try Prefix(parsing: bytes)
        start = prefix.start
        header = prefix.header
        authenticatedPrefix = Array(bytes[0..<prefix.length])
        guard bytes.count - prefix.length >= XChaCha20Poly1305.overhead + Session.paddingBlock else {
            throw SessionError.malformed("message body too short")
        }
        body = bytes[prefix.length...]
    }

    static func encodePrefix(start: SessionStart?, header: MessageHeader) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(start?.kem == nil ? 128 : 128 + 4 + MLKEM.ciphertextByteCount)
        if let start {
            out.append(start.kem == nil ? typeStart : typeHybridStart)
            out += start.initiator.rawRepresentation
            out += start.ephemeral.rawRepresentation
            out.appendU32(start.signedPrekeyID)
            if let id = start.oneTimePrekeyID {
                out.append(1)
                out.appendU32(id)
            } else {
                out.append(0)
            }
            if let kem = start.kem {
                out.appendU32(kem.prekeyID)
                out += kem.ciphertext
            }
        } else {
            out.append(typeNormal)
        }
        out += header.ratchet.rawRepresentation
        out.appendU32(header.previousCount)
        out.appendU32(header.number)
        return out
    }
}
