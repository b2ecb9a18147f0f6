// Counting a process's disk syncs with strace, to test that a commit is synced before it is
// answered: a SIGKILL cannot show it, since the kernel's page cache outlives the process.
import Foundation

/// `strace -f` recording every `fsync` and `fdatasync` of a child process and its threads, with
/// wall-clock times, into a file read back once the child has ended.
public struct SyncTrace: Sendable {
    /// Where strace writes its lines.
    public let output: String

    /// strace is not installed (scripts/test installs it).
    public struct Missing: Error, CustomStringConvertible {
        public var description: String { "strace is not installed: apt-get install strace (scripts/test does)" }
    }

    public init(output: String) {
        self.output = output
    }

    /// The command that runs a program under this trace: put it before the program's path.
    public func launcher() throws -> [String] {
        guard let strace = Self.executable(named: "strace") else { throw Missing() }
        // -ttt: seconds since the epoch with microseconds, the clock `Date()` reads.
        return [strace, "-f", "-qq", "-ttt", "-e", "trace=fsync,fdatasync", "-o", output]
    }

    /// When each sync call started, in seconds since the epoch, from the trace file.
    public func syncStarts() throws -> [Double] {
        let text = try String(contentsOfFile: output, encoding: .utf8)
        return text.split(separator: "\n").compactMap { line -> Double? in
            // "PID SECONDS.MICROS fdatasync(5) = 0", or "... fdatasync(5 <unfinished ...>" when
            // another thread's line came between; "<... fdatasync resumed>" lines are not starts.
            let fields = line.split(separator: " ", maxSplits: 2)
            guard fields.count == 3, fields[2].hasPrefix("fsync(") || fields[2].hasPrefix("fdatasync(") else { return nil }
            return Double(fields[1])
        }
    }

    /// The first executable called `name` on `$PATH`, or in /usr/bin or /bin.
    public static func executable(named name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        let directories = path.split(separator: ":").map(String.init) + ["/usr/bin", "/bin"]
        return directories.map { ($0 as NSString).appendingPathComponent(name) }
            .first { FileManager.default.isExecutableFile(atPath: $0) }
    }
}

/// A stretch of wall-clock time from a request's sending to its answer's arrival.
public struct AnsweredRequest: Sendable, CustomStringConvertible {
    public let name: String
    public let sent: Double
    public let answered: Double

    /// Runs `body` and notes when it started and ended.
    public static func timed(_ name: String, _ body: () async throws -> Void) async rethrows -> AnsweredRequest {
        let sent = Date().timeIntervalSince1970
        try await body()
        return AnsweredRequest(name: name, sent: sent, answered: Date().timeIntervalSince1970)
    }

    /// Whether a sync started between the request and its answer.
    public func wasSynced(by syncs: [Double]) -> Bool {
        syncs.contains { $0 >= sent && $0 <= answered }
    }

    public var description: String { name }
}
