/// Prekey private halves for the client's encrypted store (Protocol.md §6.5). The bytes hold secrets.
extension SignedPrekey {
    /// `u32 id ‖ X25519 private scalar (32) ‖ signature (64)`: 100 bytes.
    public func serialized() -> SecureBytes {
        var out = withUnsafeBytes(of: id.bigEndian, Array.init)
        defer { wipe(&out) }
        privateKey.scalar.withUnsafeBytes { out += $0 }
        out += signature.rawRepresentation
        return SecureBytes(copying: out)
    }

    /// A signed prekey restored from `serialized()`; the signature is kept as stored.
    public init(serialized state: SecureBytes) throws(SessionError) {
        guard state.count == 100 else { throw SessionError.malformed("signed prekey state must be 100 bytes") }
        var bytes = state.withUnsafeBytes { Array($0) }
        defer { wipe(&bytes) }
        id = bytes[0..<4].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        privateKey = X25519.PrivateKey(scalar: SecureBytes(copying: bytes[4..<36]))
        signature = Ed25519.Signature(unchecked: Array(bytes[36..<100]))
    }
}

extension OneTimePrekey {
    /// `u32 id ‖ X25519 private scalar (32)`: 36 bytes.
    public func serialized() -> SecureBytes {
        var out = withUnsafeBytes(of: id.bigEndian, Array.init)
        defer { wipe(&out) }
        privateKey.scalar.withUnsafeBytes { out += $0 }
        return SecureBytes(copying: out)
    }

    /// A one-time prekey restored from `serialized()`.
    public init(serialized state: SecureBytes) throws(SessionError) {
        guard state.count == 36 else { throw SessionError.malformed("one-time prekey state must be 36 bytes") }
        var bytes = state.withUnsafeBytes { Array($0) }
        defer { wipe(&bytes) }
        id = bytes[0..<4].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        privateKey = X25519.PrivateKey(scalar: SecureBytes(copying: bytes[4..<36]))
    }
}

extension KEMPrekey {
    /// `u32 id ‖ ML-KEM seed d ‖ z (64) ‖ signature (64)`: 132 bytes; the encapsulation key is
    /// made again from the seed.
    public func serialized() -> SecureBytes {
        var out = withUnsafeBytes(of: id.bigEndian, Array.init)
        defer { wipe(&out) }
        privateKey.seed.withUnsafeBytes { out += $0 }
        out += signature.rawRepresentation
        return SecureBytes(copying: out)
    }

    /// A KEM prekey restored from `serialized()`; the signature is kept as stored.
    public init(serialized state: SecureBytes) throws(SessionError) {
        guard state.count == 4 + MLKEM.seedByteCount + 64 else { throw SessionError.malformed("KEM prekey state must be 132 bytes") }
        var bytes = state.withUnsafeBytes { Array($0) }
        defer { wipe(&bytes) }
        let seedEnd = 4 + MLKEM.seedByteCount
        do {
            self.init(
                id: bytes[0..<4].reduce(UInt32(0)) { $0 << 8 | UInt32($1) },
                privateKey: try MLKEM.PrivateKey(seed: SecureBytes(copying: bytes[4..<seedEnd])),
                signature: Ed25519.Signature(unchecked: Array(bytes[seedEnd...])))
        } catch {
            throw SessionError.malformed("KEM prekey state holds no ML-KEM seed")
        }
    }
}
