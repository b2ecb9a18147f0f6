/// The passphrase-sealed identity file, version 1, as bytes. (Reading and writing the file is the
/// `CaucusKeystore` module's job; the core does no I/O.)
///
/// ```
/// offset size  field
///  0      8    magic "CAUCUSKS"
///  8      1    format version = 1
///  9      1    KDF = 1 (Argon2id v1.3)
/// 10      4    Argon2id iterations, u32 big-endian
/// 14      4    Argon2id memory in KiB, u32 big-endian
/// 18     16    Argon2id salt
/// 34     24    XChaCha20-Poly1305 nonce
/// 58     48    Ed25519 seed (32) encrypted, + tag (16); associated data = bytes 0..<34
/// 106    32    BLAKE2b-256 of bytes 0..<106 (tells damage apart from a wrong passphrase)
/// ```
/// Nothing in the file reveals the identity without the passphrase, not even the public key.
public enum KeystoreFormat {
    static let magic = Array("CAUCUSKS".utf8)
    static let version: UInt8 = 1
    static let kdfArgon2id13: UInt8 = 1
    /// Bytes 0..<34: everything before the nonce, bound to the ciphertext as associated data.
    static let associatedByteCount = 34
    /// Bytes 0..<58: the associated data and the nonce.
    static let headerByteCount = associatedByteCount + XChaCha20Poly1305.nonceByteCount
    static let sealedByteCount = 32 + XChaCha20Poly1305.tagByteCount
    static let checksumByteCount = 32
    /// Size of every version 1 keystore file.
    public static let fileByteCount = headerByteCount + sealedByteCount + checksumByteCount
    /// Most Argon2id iterations a file may ask for (a hostile file must not hang the client).
    public static let maximumIterations: UInt32 = 32
    /// Most Argon2id memory a file may ask for: 1 GiB.
    public static let maximumMemoryKiB: UInt32 = 1024 * 1024

    /// Seals `identity` under `passphrase` into a complete keystore file.
    public static func seal(
        _ identity: Ed25519.PrivateKey, passphrase: Passphrase, parameters: Argon2id.Parameters = .moderate
    ) throws(CryptoError) -> [UInt8] {
        guard !passphrase.isEmpty else { throw CryptoError.invalidParameter("the passphrase is empty") }
        guard parameters.iterations <= maximumIterations, parameters.memoryKiB <= maximumMemoryKiB else {
            throw CryptoError.invalidParameter("\(parameters) is above the keystore's limits")
        }
        let salt = Random.bytes(Argon2id.saltByteCount)
        var header = magic + [version, kdfArgon2id13]
        withUnsafeBytes(of: parameters.iterations.bigEndian) { header.append(contentsOf: $0) }
        withUnsafeBytes(of: parameters.memoryKiB.bigEndian) { header.append(contentsOf: $0) }
        header += salt
        let key = try Argon2id.deriveKey(from: passphrase, salt: salt, parameters: parameters)
        // `seal` returns nonce ‖ ciphertext ‖ tag: exactly bytes 34..<106 of the file.
        var seed = identity.seed.withUnsafeBytes { Array($0) }
        defer { wipe(&seed) }
        let sealed = XChaCha20Poly1305.seal(seed, using: key, authenticating: header)
        var file = header + sealed
        precondition(file.count == headerByteCount + sealedByteCount)
        file += try BLAKE2b.hash(file, outputByteCount: checksumByteCount)
        return file
    }

    /// The identity sealed in `file`, or the reason it cannot be opened.
    public static func open(_ file: [UInt8], passphrase: Passphrase) throws(KeystoreError) -> Ed25519.PrivateKey {
        let parameters = try parameters(of: file)
        let salt = Array(file[18..<associatedByteCount])
        let key: SymmetricKey
        do {
            key = try Argon2id.deriveKey(from: passphrase, salt: salt, parameters: parameters)
        } catch {
            throw KeystoreError.outOfMemory
        }
        let header = Array(file[0..<associatedByteCount])
        let sealed = Array(file[associatedByteCount..<(headerByteCount + sealedByteCount)])
        var seed: [UInt8]
        do {
            seed = try XChaCha20Poly1305.open(sealed, using: key, authenticating: header)
        } catch {
            throw KeystoreError.wrongPassphrase
        }
        defer { wipe(&seed) }
        return try! Ed25519.PrivateKey(seed: SecureBytes(copying: seed))
    }

    /// The Argon2id parameters of a well-formed file, after every structural check.
    public static func parameters(of file: [UInt8]) throws(KeystoreError) -> Argon2id.Parameters {
        guard file.count >= magic.count + 1, Array(file[0..<magic.count]) == magic else {
            throw KeystoreError.notAKeystore
        }
        guard file.count == fileByteCount else {
            if file[8] != version { throw KeystoreError.unsupportedVersion(file[8]) }
            throw KeystoreError.wrongSize(actual: file.count, expected: fileByteCount)
        }
        let body = Array(file[0..<(fileByteCount - checksumByteCount)])
        let checksum = try! BLAKE2b.hash(body, outputByteCount: checksumByteCount)
        guard ConstantTime.equals(checksum, Array(file[(fileByteCount - checksumByteCount)...])) else {
            throw KeystoreError.damaged
        }
        guard file[8] == version else { throw KeystoreError.unsupportedVersion(file[8]) }
        guard file[9] == kdfArgon2id13 else { throw KeystoreError.unsupportedKDF(file[9]) }
        let iterations = file[10..<14].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        let memoryKiB = file[14..<18].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        guard iterations <= maximumIterations, memoryKiB <= maximumMemoryKiB,
              let parameters = try? Argon2id.Parameters(iterations: iterations, memoryKiB: memoryKiB)
        else {
            throw KeystoreError.unreasonableParameters(iterations: iterations, memoryKiB: memoryKiB)
        }
        return parameters
    }
}

/// Why a keystore file cannot be opened. Never carries the passphrase or key material.
public enum KeystoreError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The bytes do not start with the keystore magic.
    case notAKeystore
    /// A format version this build does not know.
    case unsupportedVersion(UInt8)
    /// A key-derivation function this build does not know.
    case unsupportedKDF(UInt8)
    /// The file is truncated or has extra bytes.
    case wrongSize(actual: Int, expected: Int)
    /// The checksum does not match: bytes in the file were changed or lost.
    case damaged
    /// The file asks for Argon2id costs outside the accepted range.
    case unreasonableParameters(iterations: UInt32, memoryKiB: UInt32)
    /// The file is intact but the passphrase does not open it.
    case wrongPassphrase
    /// Not enough memory to run Argon2id with the file's parameters.
    case outOfMemory

    public var description: String {
        switch self {
        case .notAKeystore:
            return "not a Caucus keystore file"
        case .unsupportedVersion(let v):
            return "keystore format version \(v) is not supported by this version of Caucus"
        case .unsupportedKDF(let k):
            return "keystore uses unknown key-derivation function \(k)"
        case let .wrongSize(actual, expected):
            return "keystore file is damaged: \(actual) bytes, expected \(expected) (truncated or extended)"
        case .damaged:
            return "keystore file is damaged: its checksum does not match"
        case let .unreasonableParameters(iterations, memoryKiB):
            return "keystore asks for unreasonable Argon2id costs (t=\(iterations), m=\(memoryKiB) KiB)"
        case .wrongPassphrase:
            return "wrong passphrase"
        case .outOfMemory:
            return "not enough memory to unlock the keystore"
        }
    }
}
