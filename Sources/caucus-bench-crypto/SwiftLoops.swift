import CaucusCrypto
import CSodium

// The Swift side of each comparison, shaped like the C loops in CaucusBenchC: inputs and an
// iteration count in, a value folded from the outputs back. Plain functions rather than closures
// in main.swift, whose top-level code is main-actor isolated: a closure there pays actor and
// exclusivity checks that are no part of the crypto core (about 7% of a 1 KiB AEAD open).

/// Signs `message` `iterations` times through the public API.
func swiftSign(_ key: Ed25519.PrivateKey, _ message: CanonicalMessage, iterations: Int) -> UInt64 {
    var folded: UInt64 = 0
    for i in 0..<iterations {
        folded &+= UInt64(key.signature(for: message).rawRepresentation[i % 64])
    }
    return folded
}

/// Verifies `signature` over `message` `iterations` times; counts the valid results.
func swiftVerify(
    _ key: Ed25519.PublicKey, _ signature: Ed25519.Signature, _ message: CanonicalMessage, iterations: Int
) -> UInt64 {
    var valid: UInt64 = 0
    for _ in 0..<iterations where key.isValidSignature(signature, for: message) {
        valid += 1
    }
    return valid
}

/// Seals `plaintext` `iterations` times, each into a fresh array.
func swiftSeal(_ key: SymmetricKey, _ plaintext: [UInt8], iterations: Int) -> UInt64 {
    var folded: UInt64 = 0
    for i in 0..<iterations {
        folded &+= UInt64(XChaCha20Poly1305.seal(plaintext, using: key)[XChaCha20Poly1305.nonceByteCount + i % plaintext.count])
    }
    return folded
}

/// Opens `sealed` `iterations` times, each into a fresh array; counts the successes.
func swiftOpen(_ key: SymmetricKey, _ sealed: [UInt8], iterations: Int) -> UInt64 {
    var valid: UInt64 = 0
    for _ in 0..<iterations where (try? XChaCha20Poly1305.open(sealed, using: key)) != nil {
        valid += 1
    }
    return valid
}

/// Seals `plaintext` `iterations` times into one buffer reused across the loop.
func swiftSealIntoBuffer(_ key: SymmetricKey, _ plaintext: [UInt8], iterations: Int) -> UInt64 {
    var output = [UInt8]()
    var folded: UInt64 = 0
    for i in 0..<iterations {
        XChaCha20Poly1305.seal(plaintext, using: key, into: &output)
        folded &+= UInt64(output[XChaCha20Poly1305.nonceByteCount + i % plaintext.count])
    }
    return folded
}

/// Opens `sealed` `iterations` times into one buffer reused across the loop; counts the successes.
func swiftOpenIntoBuffer(_ key: SymmetricKey, _ sealed: [UInt8], iterations: Int) -> UInt64 {
    var output = [UInt8]()
    var valid: UInt64 = 0
    for _ in 0..<iterations {
        do {
            try XChaCha20Poly1305.open(sealed, using: key, into: &output)
            valid += 1
        } catch {}
    }
    return valid
}

/// The libsodium open call made straight from Swift, with no wrapper: what any Swift caller
/// pays on top of C. `key` is the raw 32 key bytes; counts the successes.
func swiftBareOpen(_ key: [UInt8], _ sealed: [UInt8], iterations: Int) -> UInt64 {
    let nonceBytes = XChaCha20Poly1305.nonceByteCount
    var output = [UInt8](repeating: 0, count: sealed.count - XChaCha20Poly1305.overhead)
    var valid: UInt64 = 0
    key.withUnsafeBufferPointer { k in
        sealed.withUnsafeBufferPointer { input in
            output.withUnsafeMutableBufferPointer { out in
                for _ in 0..<iterations {
                    let status = crypto_aead_xchacha20poly1305_ietf_decrypt(
                        out.baseAddress, nil, nil, input.baseAddress! + nonceBytes, UInt64(input.count - nonceBytes),
                        nil, 0, input.baseAddress!, k.baseAddress!)
                    if status == 0 { valid += 1 }
                }
            }
        }
    }
    return valid
}

/// Opens the sealed box `box` `iterations` times, each into a fresh array; counts the successes.
func swiftSealedBoxOpen(_ recipient: X25519.PrivateKey, _ box: [UInt8], iterations: Int) -> UInt64 {
    var valid: UInt64 = 0
    for _ in 0..<iterations where (try? SealedBox.open(box, with: recipient)) != nil {
        valid += 1
    }
    return valid
}
