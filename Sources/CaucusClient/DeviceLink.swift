import CaucusCrypto
import CaucusPayloads
import Foundation

/// The one-time code `caucus device add` shows (Protocol.md §9.13): whose device to become, which
/// device to ask, the secret that opens the channel between the two, when it expires and the relay.
public struct LinkCode: Sendable, Equatable {
    /// Text every link code starts with.
    public static let prefix = "caucus-link:"
    static let version: UInt8 = 1
    static let checksumByteCount = 4
    static let maximumTextLength = 1024
    /// How long a code works by default.
    public static let lifetime: TimeInterval = 600

    /// The identity the new device joins.
    public let identity: Ed25519.PublicKey
    /// The device that made the code, which the new device asks.
    public let device: Ed25519.PublicKey
    /// 32 random bytes: whoever holds the code can ask once.
    public let secret: [UInt8]
    /// When the device that made it stops answering, in whole seconds.
    public let expiresAt: Date
    /// The relay both devices use.
    public let relay: String

    public init(identity: Ed25519.PublicKey, device: Ed25519.PublicKey, secret: [UInt8], expiresAt: Date, relay: String) {
        self.identity = identity
        self.device = device
        self.secret = secret
        self.expiresAt = Date(timeIntervalSince1970: expiresAt.timeIntervalSince1970.rounded(.down))
        self.relay = relay
    }

    /// `caucus-link:` + base58btc(`u8 1 ‖ identity (32) ‖ device (32) ‖ secret (32) ‖ u64 expiry
    /// (Unix seconds) ‖ relay URL (UTF-8) ‖ checksum (4)`), the checksum being the first 4 bytes of
    /// BLAKE2b-256 of all before it.
    public var text: String {
        let seconds = UInt64(max(0, expiresAt.timeIntervalSince1970))
        let body = [Self.version] + identity.rawRepresentation + device.rawRepresentation + secret
            + (0..<8).reversed().map { UInt8(truncatingIfNeeded: seconds >> ($0 * 8)) } + Array(relay.utf8)
        return Self.prefix + Base58.encode(body + Self.checksum(body))
    }

    public func hasExpired(at now: Date = Date()) -> Bool { expiresAt <= now }

    /// Parses a code, telling a mistyped or cut one from one of an unknown version.
    public init(parsing text: String) throws(ClientError) {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        func invalid(_ why: String) -> ClientError { .invalidArgument("not a device link code: \(why)") }
        guard trimmed.hasPrefix(Self.prefix) else { throw invalid("a link code starts with \(Self.prefix)") }
        guard trimmed.utf8.count <= Self.maximumTextLength else { throw invalid("it is far longer than a link code") }
        let bytes: [UInt8]
        switch Base58.decode(String(trimmed.dropFirst(Self.prefix.count))) {
        case .success(let decoded): bytes = decoded
        case .failure: throw invalid("it contains a character that cannot be in a link code (mistyped?)")
        }
        guard bytes.count > 1 + 96 + 8 + Self.checksumByteCount else { throw invalid("it is too short (cut off?)") }
        let body = Array(bytes.dropLast(Self.checksumByteCount))
        guard ConstantTime.equals(Array(bytes.suffix(Self.checksumByteCount)), Self.checksum(body)) else {
            throw invalid("its checksum does not match (mistyped or cut off?)")
        }
        guard body[0] == Self.version else { throw invalid("link code version \(body[0]) needs a newer Caucus") }
        guard let identity = try? Ed25519.PublicKey(rawRepresentation: Array(body[1..<33])), identity.isValidPoint,
              let device = try? Ed25519.PublicKey(rawRepresentation: Array(body[33..<65])), device.isValidPoint,
              let relay = String(validating: body[105...], as: UTF8.self), relay.hasPrefix("ws://") || relay.hasPrefix("wss://")
        else { throw invalid("its contents are not valid") }
        let seconds = body[97..<105].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        self.init(identity: identity, device: device, secret: Array(body[65..<97]),
                  expiresAt: Date(timeIntervalSince1970: Double(seconds)), relay: relay)
    }

    private static func checksum(_ body: [UInt8]) -> [UInt8] {
        Array(try! BLAKE2b.hash(body, outputByteCount: 32).prefix(checksumByteCount))
    }
}

/// The two messages of a link (Protocol.md §9.13), each a relay message to one device's mailbox:
/// the new device's request, sealed under a key from the code's secret, and the answer, sealed
/// under a key from the secret and a Diffie-Hellman of two keys made for this link alone.
public enum LinkMessage {
    /// The first byte of a link request (pairwise envelopes start 0x01 or 0x02).
    public static let requestByte: UInt8 = 0x05
    /// The first byte of a link answer.
    public static let answerByte: UInt8 = 0x06

    /// What the new device sends: its device key, its signature over `caucus/device-key/v1` for the
    /// identity (the device chain's proof, §2.2), its link key and the name it was given.
    public struct Request: Sendable, Equatable {
        public let device: Ed25519.PublicKey
        public let proof: Ed25519.Signature
        public let linkKey: X25519.PublicKey
        public let name: String

        public init(device: Ed25519.PublicKey, proof: Ed25519.Signature, linkKey: X25519.PublicKey, name: String) {
            self.device = device
            self.proof = proof
            self.linkKey = linkKey
            self.name = name
        }
    }

    /// `HKDF(salt = 32 zero bytes, IKM = code secret, info = "caucus/link-request/v1", 32)`.
    static func requestKey(_ code: LinkCode) -> SymmetricKey {
        HKDF.deriveSymmetricKey(inputKeyMaterial: SecureBytes(copying: code.secret), salt: [UInt8](repeating: 0, count: 32),
                                info: Array("caucus/link-request/v1".utf8))
    }

    /// `0x05 ‖ AEAD(request key, device (32) ‖ proof (64) ‖ link key (32) ‖ LP(name), ad = 0x05 ‖ code's device)`.
    public static func seal(_ request: Request, for code: LinkCode) -> [UInt8] {
        var writer = PayloadWriter()
        writer.fixed(request.device.rawRepresentation + request.proof.rawRepresentation + request.linkKey.rawRepresentation)
        writer.text(request.name)
        return [requestByte] + XChaCha20Poly1305.seal(writer.bytes, using: requestKey(code),
                                                      authenticating: [requestByte] + code.device.rawRepresentation)
    }

    /// Opens a request with the code this device made; nil when it was not sealed for it or does not parse.
    public static func openRequest(_ bytes: [UInt8], for code: LinkCode) -> Request? {
        guard bytes.first == requestByte,
              let plain = try? XChaCha20Poly1305.open(Array(bytes.dropFirst()), using: requestKey(code),
                                                       authenticating: [requestByte] + code.device.rawRepresentation),
              plain.count > 128
        else { return nil }
        var reader = PayloadReader(Array(plain[128...]))
        guard let device = try? Ed25519.PublicKey(rawRepresentation: Array(plain[0..<32])), device.isValidPoint,
              let proof = try? Ed25519.Signature(rawRepresentation: Array(plain[32..<96])),
              let linkKey = try? X25519.PublicKey(rawRepresentation: Array(plain[96..<128])),
              let name = try? reader.text(limit: 256), !name.isEmpty, reader.remaining == 0
        else { return nil }
        return Request(device: device, proof: proof, linkKey: linkKey, name: name)
    }

    /// `HKDF(salt = code secret, IKM = X25519(answer's link key, request's link key), info =
    /// "caucus/link-answer/v1", 32)`.
    static func answerKey(_ code: LinkCode, shared: X25519.SharedSecret) -> SymmetricKey {
        HKDF.deriveSymmetricKey(inputKeyMaterial: shared.bytes, salt: code.secret, info: Array("caucus/link-answer/v1".utf8))
    }

    /// `0x06 ‖ answering link key (32) ‖ AEAD(answer key, contents, ad = 0x06 ‖ new device)`. The
    /// answering link key is made for this answer alone (`answering` is for test vectors only).
    public static func sealAnswer(_ contents: [UInt8], to request: Request, for code: LinkCode,
                                  answering: X25519.PrivateKey = X25519.PrivateKey()) throws -> [UInt8] {
        let mine = answering
        let key = answerKey(code, shared: try mine.sharedSecret(with: request.linkKey))
        return [answerByte] + mine.publicKey.rawRepresentation
            + XChaCha20Poly1305.seal(contents, using: key, authenticating: [answerByte] + request.device.rawRepresentation)
    }

    /// Opens an answer with the new device's link key; nil when it was not sealed for this link.
    public static func openAnswer(_ bytes: [UInt8], linkKey: X25519.PrivateKey, device: Ed25519.PublicKey, for code: LinkCode) -> [UInt8]? {
        guard bytes.first == answerByte, bytes.count > 33,
              let theirs = try? X25519.PublicKey(rawRepresentation: Array(bytes[1..<33])),
              let shared = try? linkKey.sharedSecret(with: theirs)
        else { return nil }
        return try? XChaCha20Poly1305.open(Array(bytes[33...]), using: answerKey(code, shared: shared),
                                           authenticating: [answerByte] + device.rawRepresentation)
    }
}
