/// What an admin sends a new member, or a member its new device, over their pairwise session: the
/// membership chain and the secret of the epoch that the add or add device entry started
/// (Protocol.md §8.3). The bytes hold a secret.
public struct GroupWelcome: Sendable {
    static let type: UInt8 = 0x11
    /// The whole membership chain, ending with the addition of the new member or device.
    public let entries: [MembershipEntry]
    /// The epoch the addition started.
    public let epoch: UInt64
    let secret: SecureBytes

    /// `0x11 ‖ u64 epoch ‖ secret (32) ‖ u32 count ‖ count × entry`.
    public func serialized() -> SecureBytes {
        var out: [UInt8] = [Self.type]
        defer { wipe(&out) }
        out.appendU64(epoch)
        secret.withUnsafeBytes { out += $0 }
        out.appendU32(UInt32(entries.count))
        for entry in entries { out += entry.encoded() }
        return SecureBytes(copying: out)
    }

    /// Parses a welcome; the chain inside is verified when joining.
    public init(serialized: SecureBytes) throws(GroupError) {
        var bytes = serialized.withUnsafeBytes { Array($0) }
        defer { wipe(&bytes) }
        var reader = ByteReader(bytes)
        do {
            guard try reader.u8() == Self.type else { throw GroupError.malformed("not a group welcome") }
            epoch = try reader.u64()
            secret = SecureBytes(copying: try reader.read(32))
            let count = Int(try reader.u32())
            guard count <= reader.remaining / MembershipEntry.encodedByteCount else { throw GroupError.malformed("entry count") }
            var entries = [MembershipEntry]()
            for _ in 0..<count { entries.append(try MembershipEntry(reading: &reader)) }
            self.entries = entries
            guard reader.remaining == 0 else { throw GroupError.malformed("trailing bytes") }
        } catch let error as GroupError {
            throw error
        } catch {
            throw GroupError.malformed("truncated")
        }
    }

    init(entries: [MembershipEntry], epoch: UInt64, secret: SecureBytes) {
        self.entries = entries
        self.epoch = epoch
        self.secret = secret
    }
}

/// The fresh secret of an epoch started by a removal of a member or a device, sent by the remover to
/// each remaining device over their pairwise sessions (Protocol.md §8.3). The bytes hold a secret.
public struct GroupEpochKey: Sendable {
    static let type: UInt8 = 0x10
    /// The group's id.
    public let groupID: [UInt8]
    /// The epoch (sequence of the remove or remove device entry).
    public let epoch: UInt64
    let secret: SecureBytes

    /// `0x10 ‖ group id (32) ‖ u64 epoch ‖ secret (32)`.
    public func serialized() -> SecureBytes {
        var out: [UInt8] = [Self.type] + groupID
        defer { wipe(&out) }
        out.appendU64(epoch)
        secret.withUnsafeBytes { out += $0 }
        return SecureBytes(copying: out)
    }

    /// Parses an epoch key.
    public init(serialized: SecureBytes) throws(GroupError) {
        guard serialized.count == 73 else { throw GroupError.malformed("epoch key must be 73 bytes") }
        var bytes = serialized.withUnsafeBytes { Array($0) }
        defer { wipe(&bytes) }
        guard bytes[0] == Self.type else { throw GroupError.malformed("not an epoch key") }
        groupID = Array(bytes[1..<33])
        epoch = bytes[33..<41].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        secret = SecureBytes(copying: bytes[41..<73])
    }

    init(groupID: [UInt8], epoch: UInt64, secret: SecureBytes) {
        self.groupID = groupID
        self.epoch = epoch
        self.secret = secret
    }
}

extension MembershipEntry {
    /// Size of an encoded entry.
    package static let encodedByteCount = 32 + 8 + 32 + 1 + 32 + 1 + 32 + 64

    /// `group id (32) ‖ u64 sequence ‖ previous (32) ‖ u8 action ‖ subject (32) ‖ u8 role ‖ author (32) ‖ signature (64)`.
    public func encoded() -> [UInt8] {
        let (code, subject, role) = actionFields
        var out = groupID
        out.appendU64(sequence)
        out += previous
        out.append(code)
        out += subject.rawRepresentation
        out.append(role)
        out += author.rawRepresentation
        out += signature.rawRepresentation
        return out
    }

    /// Parses one encoded entry; its signature and place in the chain are checked by `MembershipChain`.
    init(reading reader: inout ByteReader) throws(GroupError) {
        do {
            let groupID = try reader.read(32), sequence = try reader.u64(), previous = try reader.read(32)
            let code = try reader.u8(), subject = try reader.ed25519(), roleByte = try reader.u8()
            let author = try reader.ed25519(), signature = Ed25519.Signature(unchecked: try reader.read(64))
            let role = GroupRole(rawValue: roleByte)
            let action: Action
            switch (code, role) {
            case (0, .admin?) where subject == author: action = .create
            case let (1, role?): action = .add(subject, role)
            case (2, nil) where roleByte == 0: action = .remove(subject)
            case let (3, role?): action = .setRole(subject, role)
            case (4, nil) where roleByte == 0: action = .addDevice(subject)
            case (5, nil) where roleByte == 0: action = .removeDevice(subject)
            default: throw GroupError.malformed("unknown membership action \(code)/\(roleByte)")
            }
            self.init(groupID: groupID, sequence: sequence, previous: previous, action: action, author: author, signature: signature)
        } catch let error as GroupError {
            throw error
        } catch {
            throw GroupError.malformed("truncated membership entry")
        }
    }

    /// Parses an encoded entry.
    public init(encoded: [UInt8]) throws(GroupError) {
        var reader = ByteReader(encoded)
        try self.init(reading: &reader)
        guard reader.remaining == 0 else { throw GroupError.malformed("trailing bytes after membership entry") }
    }
}
