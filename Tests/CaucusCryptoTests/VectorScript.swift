import CaucusLock
import Foundation

/// Runs one of the independent vector checkers in scripts/ (Python, PyNaCl) on a vectors file.
enum VectorScript {
    /// The script's exit status and everything it printed, stdout and stderr together.
    static func run(_ script: String, on file: URL) async throws -> (status: Int32, output: String) {
        try await offCooperativePool {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["python3", EvidenceBundleTests.repository.appendingPathComponent("scripts/\(script)").path, file.path]
            let pipe = Pipe()
            process.standardOutput = pipe
            process.standardError = pipe
            try process.run()
            let data = pipe.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            return (process.terminationStatus, String(decoding: data, as: UTF8.self))
        }
    }
}
