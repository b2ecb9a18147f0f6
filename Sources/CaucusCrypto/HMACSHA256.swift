import CSodium

/// HMAC-SHA-256 (RFC 2104) over libsodium's `crypto_auth_hmacsha256` streaming API.
public enum HMACSHA256 {
    /// Length of a full authentication code in bytes.
    public static let byteCount = Int(crypto_auth_hmacsha256_BYTES)

    /// The 32-byte authentication code of `message` under `key`.
    public static func authenticationCode(for message: [UInt8], using key: SymmetricKey) -> [UInt8] {
        key.bytes.withUnsafeBytes { k in
            let state = State(key: k)
            state.update(message)
            return state.finalize()
        }
    }

    /// Whether `code` is the authentication code of `message`, compared in constant time.
    public static func isValidAuthenticationCode(
        _ code: [UInt8], for message: [UInt8], using key: SymmetricKey
    ) -> Bool {
        ConstantTime.equals(authenticationCode(for: message, using: key), code)
    }

    /// An HMAC in progress, keyed with a key of any length (over 64 bytes it is hashed first, per
    /// RFC 2104). The libsodium state is wiped when the value goes away.
    struct State: ~Copyable {
        private let state = UnsafeMutablePointer<crypto_auth_hmacsha256_state>.allocate(capacity: 1)

        init(key: UnsafeRawBufferPointer) {
            Sodium.ensureInitialized()
            state.initialize(to: crypto_auth_hmacsha256_state())
            if let base = key.baseAddress {
                _ = crypto_auth_hmacsha256_init(state, base.assumingMemoryBound(to: UInt8.self), key.count)
            } else {
                var empty: UInt8 = 0
                _ = crypto_auth_hmacsha256_init(state, &empty, 0)
            }
        }

        /// An independent copy of this HMAC in progress (the keyed state is computed only once).
        func copy() -> State {
            State(copying: state)
        }

        private init(copying other: UnsafeMutablePointer<crypto_auth_hmacsha256_state>) {
            state.initialize(to: other.pointee)
        }

        func update(_ bytes: UnsafeRawBufferPointer) {
            guard let base = bytes.baseAddress else { return }
            _ = crypto_auth_hmacsha256_update(state, base.assumingMemoryBound(to: UInt8.self), UInt64(bytes.count))
        }

        func update(_ bytes: [UInt8]) {
            _ = crypto_auth_hmacsha256_update(state, bytes, UInt64(bytes.count))
        }

        /// Writes the 32-byte code to `out`.
        func finalize(into out: UnsafeMutableRawPointer) {
            _ = crypto_auth_hmacsha256_final(state, out.assumingMemoryBound(to: UInt8.self))
        }

        func finalize() -> [UInt8] {
            var out = [UInt8](repeating: 0, count: HMACSHA256.byteCount)
            _ = crypto_auth_hmacsha256_final(state, &out)
            return out
        }

        deinit {
            sodium_memzero(state, MemoryLayout<crypto_auth_hmacsha256_state>.size)
            state.deallocate()
        }
    }
}
