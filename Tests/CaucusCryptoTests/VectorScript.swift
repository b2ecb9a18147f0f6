import CaucusTestSupport
import Foundation

/// Runs one of the independent vector checkers in scripts/ (Python, PyNaCl) on a vectors file.
enum VectorScript {
    /// The checker's outcome; like every child process of the tests, it has a bound (generous:
    /// the checkers take about a second).
    static func run(_ script: String, on file: URL) async throws -> ChildProcess.Outcome {
        let checker = EvidenceBundleTests.repository.appendingPathComponent("scripts/\(script)").path
        return try await ChildProcess.run("/usr/bin/env", ["python3", checker, file.path],
                                          environment: ProcessInfo.processInfo.environment, within: .seconds(120))
    }
}
