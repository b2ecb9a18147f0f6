import CaucusCrypto
import Foundation
import Testing
@testable import CaucusKeystore

/// A fresh temporary directory per test, removed afterwards.
final class TemporaryDirectory {
    let path: String
    init() throws {
        path = FileManager.default.temporaryDirectory
            .appendingPathComponent("caucus-keystore-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
    }
    deinit {
        _ = chmod(path, 0o700)
        try? FileManager.default.removeItem(atPath: path)
    }
    /// Names of the entries in the directory.
    func entries() throws -> [String] { try FileManager.default.contentsOfDirectory(atPath: path).sorted() }
}

@Suite("Keystore file on disk")
struct KeystoreFileTests {
    static let fast = try! Argon2id.Parameters(iterations: 1, memoryKiB: 8 * 1024)
    let directory: TemporaryDirectory
    let keystore: Keystore
    let identity = Ed25519.PrivateKey()
    let passphrase = Passphrase("solidarity forever")

    init() throws {
        directory = try TemporaryDirectory()
        keystore = Keystore(path: directory.path + "/identity.keystore")
    }

    func mode(_ path: String) -> UInt32 {
        var info = stat()
        stat(path, &info)
        return UInt32(info.st_mode) & 0o777
    }

    @Test("create writes a 0600 file that loads back, leaving no temporary files")
    func roundTrip() throws {
        let old = umask(0)
        defer { umask(old) }
        try keystore.create(identity, passphrase: passphrase, parameters: Self.fast)
        #expect(mode(keystore.path) == 0o600)
        #expect(try directory.entries() == ["identity.keystore"])
        #expect(try keystore.load(passphrase: passphrase).publicKey == identity.publicKey)
    }

    @Test("create refuses to overwrite an existing keystore")
    func noOverwrite() throws {
        try keystore.create(identity, passphrase: passphrase, parameters: Self.fast)
        let before = try Data(contentsOf: URL(fileURLWithPath: keystore.path))
        #expect(throws: KeystoreFileError.alreadyExists(path: keystore.path)) {
            try keystore.create(Ed25519.PrivateKey(), passphrase: passphrase, parameters: Self.fast)
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: keystore.path)) == before)
        #expect(try directory.entries() == ["identity.keystore"])
    }

    @Test("wrong passphrase is a clear error and leaves the file as it was")
    func wrongPassphrase() throws {
        try keystore.create(identity, passphrase: passphrase, parameters: Self.fast)
        let before = try Data(contentsOf: URL(fileURLWithPath: keystore.path))
        #expect(throws: KeystoreError.wrongPassphrase) { try keystore.load(passphrase: Passphrase("solidarity for ever")) }
        #expect(throws: KeystoreError.wrongPassphrase) {
            try keystore.changePassphrase(from: Passphrase("nope"), to: Passphrase("new one"), parameters: Self.fast)
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: keystore.path)) == before)
        #expect(String(describing: KeystoreError.wrongPassphrase) == "wrong passphrase")
    }

    @Test("a truncated or bit-flipped file on disk is reported as damaged")
    func damagedOnDisk() throws {
        try keystore.create(identity, passphrase: passphrase, parameters: Self.fast)
        let good = try Data(contentsOf: URL(fileURLWithPath: keystore.path))
        try good.prefix(100).write(to: URL(fileURLWithPath: keystore.path))
        #expect(throws: KeystoreError.wrongSize(actual: 100, expected: good.count)) { try keystore.load(passphrase: passphrase) }
        var flipped = good
        flipped[70] ^= 0x10
        try flipped.write(to: URL(fileURLWithPath: keystore.path))
        #expect(throws: KeystoreError.damaged) { try keystore.load(passphrase: passphrase) }
        try Data().write(to: URL(fileURLWithPath: keystore.path))
        #expect(throws: KeystoreError.notAKeystore) { try keystore.load(passphrase: passphrase) }
    }

    @Test("a keystore others can read is refused, like ssh does")
    func permissions() throws {
        try keystore.create(identity, passphrase: passphrase, parameters: Self.fast)
        for loose: mode_t in [0o644, 0o640, 0o604, 0o660] {
            chmod(keystore.path, loose)
            #expect(throws: KeystoreFileError.insecurePermissions(path: keystore.path, mode: UInt32(loose))) {
                try keystore.load(passphrase: passphrase)
            }
        }
        chmod(keystore.path, 0o400)
        #expect(try keystore.load(passphrase: passphrase).publicKey == identity.publicKey)
    }

    @Test("missing files, directories, symlinks and huge files get their own errors")
    func notKeystores() throws {
        #expect(throws: KeystoreFileError.notFound(path: keystore.path)) { try keystore.load(passphrase: passphrase) }
        #expect(!keystore.exists)
        try FileManager.default.createDirectory(atPath: keystore.path, withIntermediateDirectories: false)
        #expect(throws: KeystoreFileError.self) { try keystore.load(passphrase: passphrase) }
        try FileManager.default.removeItem(atPath: keystore.path)
        let target = directory.path + "/elsewhere"
        try Data([1]).write(to: URL(fileURLWithPath: target))
        try FileManager.default.createSymbolicLink(atPath: keystore.path, withDestinationPath: target)
        #expect(throws: KeystoreFileError.system(operation: "open", path: keystore.path, errno: ELOOP)) {
            try keystore.load(passphrase: passphrase)
        }
        try FileManager.default.removeItem(atPath: keystore.path)
        try Data(count: 100_000).write(to: URL(fileURLWithPath: keystore.path))
        chmod(keystore.path, 0o600)
        #expect(throws: KeystoreFileError.tooLarge(path: keystore.path, byteCount: 100_000)) { try keystore.load(passphrase: passphrase) }
    }

    @Test("changing the passphrase replaces the file atomically")
    func changePassphrase() throws {
        try keystore.create(identity, passphrase: passphrase, parameters: Self.fast)
        let newPassphrase = Passphrase("an injury to one is an injury to all")
        try keystore.changePassphrase(from: passphrase, to: newPassphrase, parameters: Self.fast)
        #expect(try keystore.load(passphrase: newPassphrase).publicKey == identity.publicKey)
        #expect(throws: KeystoreError.wrongPassphrase) { try keystore.load(passphrase: passphrase) }
        #expect(mode(keystore.path) == 0o600)
        #expect(try directory.entries() == ["identity.keystore"])
    }

    @Test("a write that cannot finish leaves what was there and no temporary file")
    func failedWriteKeepsOld() throws {
        // The final rename cannot replace a non-empty directory: the write fails at its last step.
        try FileManager.default.createDirectory(atPath: keystore.path + "/occupied", withIntermediateDirectories: true)
        let bytes = try KeystoreFormat.seal(identity, passphrase: passphrase, parameters: Self.fast)
        #expect(throws: KeystoreFileError.self) { try keystore.write(bytes, replacing: true) }
        #expect(try directory.entries() == ["identity.keystore"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: keystore.path) == ["occupied"])
        // Creation in a directory that does not exist fails before anything is written.
        let nowhere = Keystore(path: directory.path + "/missing/identity.keystore")
        #expect(throws: KeystoreFileError.self) { try nowhere.create(identity, passphrase: passphrase, parameters: Self.fast) }
        #expect(try directory.entries() == ["identity.keystore"])
    }
}
