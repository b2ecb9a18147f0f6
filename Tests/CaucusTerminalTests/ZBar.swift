import CaucusLock
import CaucusTerminal
import Foundation

/// Runs the independent zbar decoder (`zbarimg`) on an image; tests skip when it is not installed.
enum ZBar {
    /// The path of `zbarimg`, when one is on the PATH.
    static let executable: String? = {
        let directories = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
        return directories.map { "\($0)/zbarimg" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }()

    /// Whether zbar is missing, printing why the decoding tests will not run.
    static var isMissing: Bool {
        guard executable == nil else { return false }
        print("zbarimg not found: skipping QR decoding tests (install zbar-tools)")
        return true
    }

    /// The text zbar reads from `image` (a binary PGM), without the newline it appends. zbarimg
    /// is waited for off Swift's cooperative pool: a test holding one of its threads (two on CI)
    /// while a busy machine runs zbarimg once stalled every relay of the test process.
    static func decode(_ image: [UInt8]) async throws -> String {
        try await offCooperativePool { try decodeBlocking(image) }
    }

    /// The text zbar reads from `code`, drawn at `scale`; drawing a large code takes a while, so
    /// it is done off the cooperative pool too.
    static func decode(_ code: QRCode, scale: Int = 4) async throws -> String {
        try await offCooperativePool { try decodeBlocking(code.pgm(scale: scale)) }
    }

    private static func decodeBlocking(_ image: [UInt8]) throws -> String {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("caucus-qr-\(UUID().uuidString).pgm")
        try Data(image).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable ?? "zbarimg")
        process.arguments = ["--quiet", "--raw", file.path]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        var text = String(decoding: data, as: UTF8.self)
        if text.hasSuffix("\n") {
            text.removeLast()
        }
        return text
    }
}
