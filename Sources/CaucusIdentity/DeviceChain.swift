/// What a device is for (Protocol.md §2.2).
public enum DeviceKind: UInt8, Sendable, Hashable {
    /// A computer that reads and writes: it gets messages and sends them.
    case computer = 1
    /// A paper key: a recovery phrase that can certify a new device; it never gets messages.
    case paper = 2
}

/// One change to an identity's devices, signed by the identity key (Protocol.md §2.2).
public struct DeviceEntry: Hashable, Sendable {
    /// What the entry does.
    public enum Action: UInt8, Hashable, Sendable {
        /// Certifies a device: from now on it speaks for the identity.
        case add = 1
        /// Revokes a device for good: its key is never certified again.
        case revoke = 2
    }

    /// Context tag of the identity's signature over an entry.
    public static let context = SigningContext("caucus/device/v1")
    /// Context tag of the device's own signature in an add entry (proof that it holds its key).
    public static let deviceContext = SigningContext("caucus/device-key/v1")
    /// Most entries one chain may have.
    public static let maximumEntries = 1_000

    /// The identity whose devices these are.
    public let identity: Ed25519.PublicKey
    /// 0 for the first entry, then +1 each.
    public let sequence: UInt64
    /// Hash of the previous entry; 32 zero bytes for the first.
    public let previous: [UInt8]
    /// Add or revoke.
    public let action: Action
    /// The device concerned.
    public let device: Ed25519.PublicKey
    /// What the device is (a revocation repeats the kind it revokes).
    public let kind: DeviceKind
    /// When the entry was signed, Unix seconds by the signer's clock (shown, never trusted).
    public let signedAt: UInt64
    /// The device's signature over `deviceStatement` (add only).
    public let deviceSignature: Ed25519.Signature?
    /// The identity's signature over `statement`.
    public let signature: Ed25519.Signature

    /// The canonical bytes the identity signs.
    public var statement: CanonicalMessage {
        CanonicalMessage(Self.context, fields: [
            .publicKey(identity), .uint64(sequence), .bytes(previous), .uint64(UInt64(action.rawValue)),
            .publicKey(device), .uint64(UInt64(kind.rawValue)), .uint64(signedAt),
            .bytes(deviceSignature?.rawRepresentation ?? []),
        ])
    }

    /// The canonical bytes a device signs to be added to `identity`.
    public static func deviceStatement(identity: Ed25519.PublicKey, device: Ed25519.PublicKey) -> CanonicalMessage {
        CanonicalMessage(deviceContext, fields: [.publicKey(identity), .publicKey(device)])
    }

    /// BLAKE2b-256 of the statement followed by the signature: what the next entry links to.
    public var hash: [UInt8] { statement.hash(signedWith: signature) }

    /// An entry as received, to be checked by `DeviceChain.append`.
    public init(identity: Ed25519.PublicKey, sequence: UInt64, previous: [UInt8], action: Action, device: Ed25519.PublicKey,
                kind: DeviceKind, signedAt: UInt64, deviceSignature: Ed25519.Signature?, signature: Ed25519.Signature) {
        self.identity = identity
        self.sequence = sequence
        self.previous = previous
        self.action = action
        self.device = device
        self.kind = kind
        self.signedAt = signedAt
        self.deviceSignature = deviceSignature
        self.signature = signature
    }

    /// A new entry signed by `identity`.
    init(identity: Ed25519.PrivateKey, sequence: UInt64, previous: [UInt8], action: Action, device: Ed25519.PublicKey, kind: DeviceKind,
         signedAt: UInt64, deviceSignature: Ed25519.Signature?) {
        let unsigned = DeviceEntry(identity: identity.publicKey, sequence: sequence, previous: previous, action: action, device: device,
                                   kind: kind, signedAt: signedAt, deviceSignature: deviceSignature,
                                   signature: Ed25519.Signature(unchecked: []))
        self.init(identity: identity.publicKey, sequence: sequence, previous: previous, action: action, device: device, kind: kind,
                  signedAt: signedAt, deviceSignature: deviceSignature, signature: identity.signature(for: unsigned.statement))
    }

    /// Size of an encoded add entry; a revocation has no device signature and is 64 bytes shorter.
    public static let addByteCount = 32 + 8 + 32 + 1 + 32 + 1 + 8 + 64 + 64

    /// `identity (32) ‖ u64 sequence ‖ previous (32) ‖ u8 action ‖ device (32) ‖ u8 kind ‖ u64 signed_at
    /// ‖ [device signature (64), add only] ‖ signature (64)`.
    public func encoded() -> [UInt8] {
        var out = identity.rawRepresentation
        out.reserveCapacity(Self.addByteCount)
        Self.append(sequence, to: &out)
        out += previous
        out.append(action.rawValue)
        out += device.rawRepresentation
        out.append(kind.rawValue)
        Self.append(signedAt, to: &out)
        if let deviceSignature { out += deviceSignature.rawRepresentation }
        out += signature.rawRepresentation
        return out
    }

    private static func append(_ value: UInt64, to out: inout [UInt8]) {
        withUnsafeBytes(of: value.bigEndian) { out.append(contentsOf: $0) }
    }

    /// Parses an encoded entry; its signatures and place in the chain are checked by `DeviceChain`.
    public init(encoded bytes: [UInt8]) throws(DeviceChainError) {
        let revokeCount = Self.addByteCount - 64
        guard bytes.count == Self.addByteCount || bytes.count == revokeCount else {
            throw DeviceChainError.malformed("a device entry is \(revokeCount) or \(Self.addByteCount) bytes, not \(bytes.count)")
        }
        func u64(_ at: Int) -> UInt64 { bytes[at..<(at + 8)].reduce(UInt64(0)) { $0 << 8 | UInt64($1) } }
        guard let action = Action(rawValue: bytes[72]) else { throw DeviceChainError.malformed("unknown device action \(bytes[72])") }
        guard let kind = DeviceKind(rawValue: bytes[105]) else { throw DeviceChainError.malformed("unknown device kind \(bytes[105])") }
        guard (action == .add) == (bytes.count == Self.addByteCount) else {
            throw DeviceChainError.malformed("an add entry is \(Self.addByteCount) bytes and a revocation \(revokeCount)")
        }
        self.init(identity: Ed25519.PublicKey(unchecked: Array(bytes[0..<32])), sequence: u64(32), previous: Array(bytes[40..<72]),
                  action: action, device: Ed25519.PublicKey(unchecked: Array(bytes[73..<105])), kind: kind, signedAt: u64(106),
                  deviceSignature: action == .add ? Ed25519.Signature(unchecked: Array(bytes[114..<178])) : nil,
                  signature: Ed25519.Signature(unchecked: Array(bytes[(bytes.count - 64)...])))
    }
}

/// Why a device entry or chain was refused. The chain is unchanged.
public enum DeviceChainError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The bytes are not a device entry.
    case malformed(String)
    /// The chain does not start with an add entry at sequence 0 linking to zeros.
    case badStart
    /// The entry is for another identity.
    case wrongIdentity
    /// An entry already in the chain, sent again.
    case replay(sequence: UInt64)
    /// A different entry at a sequence number the chain already has: two histories.
    case fork(sequence: UInt64)
    /// Entries are missing before this one.
    case gap(expected: UInt64, got: UInt64)
    /// The entry does not link to the hash of the entry before it.
    case brokenLink(sequence: UInt64)
    /// The identity's signature does not verify.
    case badSignature(sequence: UInt64)
    /// The added device's own signature does not verify.
    case badDeviceSignature(sequence: UInt64)
    /// The change makes no sense (a device added twice, revoking one that is not active…).
    case invalidChange(sequence: UInt64, String)
    /// The chain would have more than `DeviceEntry.maximumEntries` entries.
    case tooLong

    public var description: String {
        switch self {
        case .malformed(let why): return "malformed device entry: \(why)"
        case .badStart: return "the device chain does not start with the identity's first device"
        case .wrongIdentity: return "device entry belongs to another identity"
        case .replay(let s): return "device entry \(s) was already applied (replay)"
        case .fork(let s): return "device entry \(s) conflicts with the one already accepted (fork)"
        case let .gap(expected, got): return "device entries \(expected)..<\(got) are missing"
        case .brokenLink(let s): return "device entry \(s) does not link to the entry before it"
        case .badSignature(let s): return "device entry \(s) is not signed by the identity"
        case .badDeviceSignature(let s): return "device entry \(s) is not signed by the device it adds"
        case let .invalidChange(s, why): return "device entry \(s) is invalid: \(why)"
        case .tooLong: return "the device chain has more than \(DeviceEntry.maximumEntries) entries"
        }
    }
}

/// An identity's verified device history and the devices it certifies now (Protocol.md §2.2).
public struct DeviceChain: Sendable, Equatable {
    /// A device the chain has listed.
    public struct Device: Sendable, Equatable {
        public let key: Ed25519.PublicKey
        public let kind: DeviceKind
        /// Sequence of the entry that added it.
        public let addedIn: UInt64
        /// Sequence of the entry that revoked it, if one did.
        public fileprivate(set) var revokedIn: UInt64?
        public var isActive: Bool { revokedIn == nil }
    }

    /// The identity.
    public let identity: Ed25519.PublicKey
    /// Every accepted entry, in order.
    public private(set) var entries: [DeviceEntry]
    /// Every device ever listed, in the order they were added.
    public private(set) var devices: [Device]
    /// Hash of the last entry.
    public private(set) var head: [UInt8]

    /// An identity that has published no chain has one device: its identity key.
    public static func implicitDevices(of identity: Ed25519.PublicKey) -> [Ed25519.PublicKey] { [identity] }

    /// Starts a chain whose first device is the identity key itself (the reference client's first device).
    public init(identity: Ed25519.PrivateKey, signedAt: UInt64) {
        let deviceSignature = identity.signature(for: DeviceEntry.deviceStatement(identity: identity.publicKey, device: identity.publicKey))
        let entry = DeviceEntry(identity: identity, sequence: 0, previous: [UInt8](repeating: 0, count: 32), action: .add,
                                device: identity.publicKey, kind: .computer, signedAt: signedAt, deviceSignature: deviceSignature)
        try! self.init(first: entry)
    }

    /// Starts verifying a received chain from its first entry.
    public init(first entry: DeviceEntry) throws(DeviceChainError) {
        try self.init(first: entry, checkingSignatures: true)
    }

    private init(first entry: DeviceEntry, checkingSignatures: Bool) throws(DeviceChainError) {
        guard entry.sequence == 0, entry.previous == [UInt8](repeating: 0, count: 32), entry.action == .add else {
            throw DeviceChainError.badStart
        }
        identity = entry.identity
        entries = []
        devices = []
        head = [UInt8](repeating: 0, count: 32)
        try apply(entry, checkingSignatures: checkingSignatures)
    }

    /// Verifies a whole chain, entry by entry; the first failure is reported.
    public static func verify(_ entries: [DeviceEntry]) throws(DeviceChainError) -> DeviceChain {
        guard let first = entries.first else { throw DeviceChainError.badStart }
        var chain = try DeviceChain(first: first)
        for entry in entries.dropFirst() { try chain.append(entry) }
        return chain
    }

    /// Parses and verifies an encoded chain.
    public static func verify(encoded: [[UInt8]]) throws(DeviceChainError) -> DeviceChain {
        var entries = [DeviceEntry]()
        for bytes in encoded { entries.append(try DeviceEntry(encoded: bytes)) }
        return try verify(entries)
    }

    /// Parses an encoded chain that was verified before it was kept where only its owner can change
    /// it (a client's sealed store): links and rules are checked again, signatures are not (they
    /// are what costs, and a client reads its kept chains on every message it sends).
    package static func restore(encoded: [[UInt8]]) throws(DeviceChainError) -> DeviceChain {
        var entries = [DeviceEntry]()
        for bytes in encoded { entries.append(try DeviceEntry(encoded: bytes)) }
        guard let first = entries.first else { throw DeviceChainError.badStart }
        var chain = try DeviceChain(first: first, checkingSignatures: false)
        for entry in entries.dropFirst() { try chain.append(entry, checkingSignatures: false) }
        return chain
    }

    /// The next sequence number.
    public var nextSequence: UInt64 { UInt64(entries.count) }

    /// The devices certified now, of `kind` when given.
    public func activeDevices(_ kind: DeviceKind? = nil) -> [Device] {
        devices.filter { $0.isActive && (kind == nil || $0.kind == kind) }
    }

    /// The listed device with `key`, active or revoked.
    public func device(_ key: Ed25519.PublicKey) -> Device? { devices.first { $0.key == key } }

    /// Whether `key` is a device the chain certifies now.
    public func certifies(_ key: Ed25519.PublicKey) -> Bool { device(key)?.isActive == true }

    /// Signs and appends the addition of `device`, whose own signature over
    /// `DeviceEntry.deviceStatement` is `deviceSignature`.
    public mutating func add(_ device: Ed25519.PublicKey, kind: DeviceKind, deviceSignature: Ed25519.Signature,
                             by identity: Ed25519.PrivateKey, signedAt: UInt64) throws(DeviceChainError) -> DeviceEntry {
        let entry = DeviceEntry(identity: identity, sequence: nextSequence, previous: head, action: .add, device: device, kind: kind,
                                signedAt: signedAt, deviceSignature: deviceSignature)
        try append(entry)
        return entry
    }

    /// Signs and appends the revocation of `device`.
    public mutating func revoke(_ device: Ed25519.PublicKey, by identity: Ed25519.PrivateKey, signedAt: UInt64) throws(DeviceChainError)
        -> DeviceEntry {
        guard let listed = self.device(device) else { throw DeviceChainError.invalidChange(sequence: nextSequence, "not a listed device") }
        let entry = DeviceEntry(identity: identity, sequence: nextSequence, previous: head, action: .revoke, device: device,
                                kind: listed.kind, signedAt: signedAt, deviceSignature: nil)
        try append(entry)
        return entry
    }

    /// Checks `entry` against the chain and applies it.
    public mutating func append(_ entry: DeviceEntry) throws(DeviceChainError) {
        try append(entry, checkingSignatures: true)
    }

    private mutating func append(_ entry: DeviceEntry, checkingSignatures: Bool) throws(DeviceChainError) {
        guard entry.identity == identity else { throw DeviceChainError.wrongIdentity }
        if entry.sequence < nextSequence {
            if entries[Int(entry.sequence)] == entry { throw DeviceChainError.replay(sequence: entry.sequence) }
            throw DeviceChainError.fork(sequence: entry.sequence)
        }
        guard entry.sequence == nextSequence else { throw DeviceChainError.gap(expected: nextSequence, got: entry.sequence) }
        guard entries.count < DeviceEntry.maximumEntries else { throw DeviceChainError.tooLong }
        try apply(entry, checkingSignatures: checkingSignatures)
    }

    /// Checks the link, the signatures and the change, then applies it: the first failure is thrown.
    private mutating func apply(_ entry: DeviceEntry, checkingSignatures: Bool) throws(DeviceChainError) {
        let sequence = entry.sequence
        guard entry.previous == head else { throw DeviceChainError.brokenLink(sequence: sequence) }
        let statement = entry.statement
        guard !checkingSignatures || identity.isValidSignature(entry.signature, for: statement) else {
            throw DeviceChainError.badSignature(sequence: sequence)
        }
        switch entry.action {
        case .add:
            guard let deviceSignature = entry.deviceSignature,
                  !checkingSignatures
                    || entry.device.isValidSignature(deviceSignature, for: DeviceEntry.deviceStatement(identity: identity, device: entry.device))
            else { throw DeviceChainError.badDeviceSignature(sequence: sequence) }
            guard device(entry.device) == nil else {
                throw DeviceChainError.invalidChange(sequence: sequence, "the device is already listed (a revoked device never returns)")
            }
            guard entry.device != identity || sequence == 0 else {
                throw DeviceChainError.invalidChange(sequence: sequence, "the identity key can only be the first device")
            }
            devices.append(Device(key: entry.device, kind: entry.kind, addedIn: sequence))
        case .revoke:
            guard let index = devices.firstIndex(where: { $0.key == entry.device }), devices[index].isActive else {
                throw DeviceChainError.invalidChange(sequence: sequence, "the device is not active")
            }
            guard devices[index].kind == entry.kind else {
                throw DeviceChainError.invalidChange(sequence: sequence, "the revocation names another kind of device")
            }
            guard devices.contains(where: { $0.isActive && $0.key != entry.device }) else {
                throw DeviceChainError.invalidChange(sequence: sequence, "the identity would have no device left")
            }
            devices[index].revokedIn = sequence
        }
        entries.append(entry)
        head = statement.hash(signedWith: entry.signature)
    }
}
