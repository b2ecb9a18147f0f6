// Child processes for tests and tools: the built `caucus` and `caucus-relay` executables, run the
// way a shell would run them, and never outliving the test that started them.
import CaucusRelay
import Foundation
import CaucusLock
#if canImport(Glibc)
import Glibc
#endif

/// A child process with stdin at end of file and its output captured, killed if it outlives its time.
///
/// Spawned with posix_spawn rather than Foundation's Process, which on Linux passes on the signal mask of
/// the Dispatch thread that starts it (SIGHUP, SIGINT and SIGTERM blocked: a tmux server and the shells in
/// it could then not be stopped) and waits for a socket that a daemon started by the child keeps open.
public final class ChildProcess: Sendable {
    /// How a finished child ended and what it wrote.
    public struct Outcome: Sendable, CustomStringConvertible {
        public let command: String
        /// The exit status, or 128 + the signal that ended it.
        public let status: Int32
        public let stdout: String
        public let stderr: String

        public var description: String { "`\(command)` exited with \(status)\n--- stdout:\n\(stdout)--- stderr:\n\(stderr)" }

        /// What a `--json` command printed, or nil when it is not JSON.
        public var json: Any? { try? JSONSerialization.jsonObject(with: Data(stdout.utf8)) }
    }

    /// A child that ran out of time (it has been killed).
    public struct TimedOut: Error, CustomStringConvertible {
        public let outcome: Outcome
        public let limit: Duration
        public var description: String { "did not finish within \(limit) (or the test ended first); killed it. \(outcome)" }
    }

    /// posix_spawn failed.
    public struct SpawnFailed: Error, CustomStringConvertible {
        public let command: String
        public let error: Int32
        public var description: String { "cannot start `\(command)`: \(String(cString: strerror(error)))" }
    }

    public let command: String
    /// Its process id, which is also its process group's.
    public let pid: pid_t
    private let waitStatus = Locked<Int32?>(nil)
    private let stdoutPath: String
    private let stderrPath: String
    /// Whether the output files are this object's own, removed with it.
    private let ownsOutput: Bool

    /// Starts `executable` with `arguments` in `environment`, in its own process group, with every
    /// signal unblocked and at its default action. Its output goes to temporary files, or, with
    /// `log`, both streams are appended to that file, which is kept.
    public init(_ executable: String, _ arguments: [String], environment: [String: String], log: String? = nil) throws {
        command = ([(executable as NSString).lastPathComponent] + arguments).joined(separator: " ")
        // Files rather than pipes: a child never blocks on a full pipe while the test waits for it.
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("caucus-child-\(UUID().uuidString)").path
        stdoutPath = log ?? base + ".out"
        stderrPath = log ?? base + ".err"
        ownsOutput = log == nil
        let flags = O_WRONLY | O_CREAT | (log == nil ? O_TRUNC : O_APPEND)

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, stdoutPath, flags, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, stderrPath, flags, 0o600)
        // Nothing else of the test process's: a pipe the test runner reads to its end must not stay open
        // in a child that outlives a crashed test.
        closeFrom(3, in: &actions)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var unblocked = sigset_t(), defaults = sigset_t()
        sigemptyset(&unblocked)
        sigfillset(&defaults)
        posix_spawnattr_setsigmask(&attributes, &unblocked)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP))

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        var pid = pid_t()
        let error = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
        guard error == 0 else { throw SpawnFailed(command: command, error: error) }
        self.pid = pid
    }

    deinit {
        kill()
        guard ownsOutput else { return }
        try? FileManager.default.removeItem(atPath: stdoutPath)
        try? FileManager.default.removeItem(atPath: stderrPath)
    }

    public var isRunning: Bool { !reaped(blocking: false) }

    /// Waits for the child to exit; kills its process group and throws `TimedOut` after `limit`.
    public func finish(within limit: Duration) async throws -> Outcome {
        let clock = ContinuousClock()
        let deadline = clock.now + limit
        while !reaped(blocking: false), clock.now < deadline {
            do { try await Task.sleep(for: .milliseconds(20)) } catch { break }
        }
        if !reaped(blocking: false) {
            kill()
            throw TimedOut(outcome: outcome(), limit: limit)
        }
        return outcome()
    }

    /// Waits for the child to exit, blocking the calling thread: only off the cooperative pool
    /// (`offCooperativePool`), for a benchmark that times the child without polling.
    public func waitForExit() -> Outcome {
        _ = reaped(blocking: true)
        return outcome()
    }

    /// Sends `signal` to the child's whole process group, if it is still running.
    public func signal(_ signal: Int32) {
        if !reaped(blocking: false) { Glibc.kill(-pid, signal) }
    }

    /// Kills the child's process group with SIGKILL and waits for the child to be gone.
    public func kill() {
        if !reaped(blocking: false) {
            Glibc.kill(-pid, SIGKILL)
            _ = reaped(blocking: true)
        }
    }

    /// What the child has written to standard output so far.
    public var stdoutSoFar: String { (try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? "" }

    /// What the child has written to standard error so far.
    public var stderrSoFar: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }

    /// Collects the child's exit status if it has ended (or, `blocking`, once it ends).
    private func reaped(blocking: Bool) -> Bool {
        waitStatus.withLock { waitStatus in
            guard waitStatus == nil else { return true }
            var status: Int32 = 0
            var result: pid_t
            repeat { result = waitpid(pid, &status, blocking ? 0 : WNOHANG) } while result == -1 && errno == EINTR
            guard result == pid else { return false }
            waitStatus = status
            return true
        }
    }

    private func outcome() -> Outcome {
        let status = waitStatus.withLock { $0 } ?? 0
        let signal = status & 0x7f
        return Outcome(command: command, status: signal == 0 ? (status >> 8) & 0xff : 128 + signal,
                       stdout: stdoutSoFar, stderr: stderrSoFar)
    }

    /// Runs a child to the end.
    public static func run(_ executable: String, _ arguments: [String], environment: [String: String],
                    within limit: Duration = .seconds(30)) async throws -> Outcome {
        try await ChildProcess(executable, arguments, environment: environment).finish(within: limit)
    }
}


/// The `caucus-relay` executable as operators run it, in its own process on 127.0.0.1 and a port
/// it picks itself. Killed with its test: dropping the last reference kills it.
///
/// Nothing here blocks a thread while the relay starts or stops: on two cores the cooperative pool
/// has two threads, and a test blocking them would stall every other test running beside it.
public final class RelayProcess: Sendable {
    public let child: ChildProcess
    public let port: Int
    /// The operators' listener (`/metrics`), when it was asked for and announced.
    public let metricsPort: Int?
    public var url: String { "ws://127.0.0.1:\(port)" }

    /// The built executable: `$CAUCUS_RELAY_BIN`, else next to the running test bundle or tool
    /// (`swift build` builds both).
    public static var executable: String {
        if let path = ProcessInfo.processInfo.environment["CAUCUS_RELAY_BIN"] { return path }
        let me = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        return me.deletingLastPathComponent().appendingPathComponent("caucus-relay").path
    }

    /// The relay did not start.
    public struct StartFailed: Error, CustomStringConvertible {
        public let description: String
    }

    /// Starts `caucus-relay` on `dataDirectory` and `port` (0: a free one) with generous rate limits
    /// and `extra` arguments, and waits (at most `limit`) for the line that names its port (and the
    /// operators' port, with `--metrics-port` or `expectsMetrics`). With a
    /// `launcher` (a command and its arguments, such as `SyncTrace.launcher()`), the relay runs
    /// under that command.
    public static func start(executable: String = RelayProcess.executable, dataDirectory: String, port: Int = 0,
                             extra: [String] = [], launcher: [String] = [], expectsMetrics: Bool = false,
                             within limit: Duration = .seconds(60)) async throws -> RelayProcess {
        guard FileManager.default.isExecutableFile(atPath: executable) else {
            throw StartFailed(description: "caucus-relay is not built at \(executable); run swift build first")
        }
        let arguments = ["--host", "127.0.0.1", "--port", "\(port)", "--data-dir", dataDirectory,
                         "--rate-limit", "100000", "--rate-burst", "100000", "--log-level", "warning"] + extra
        let command = launcher + [executable] + arguments
        let child = try ChildProcess(command[0], Array(command.dropFirst()), environment: ProcessInfo.processInfo.environment)
        let clock = ContinuousClock()
        let deadline = clock.now + limit
        // With --metrics-port (or `expectsMetrics`, for a port set in a configuration file), the
        // operators' listener is announced on a second line.
        let metricsAsked = extra.contains("--metrics-port") || expectsMetrics
        while true {
            let lines = child.stdoutSoFar.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init)
            if let line = lines.first {
                guard let port = RelayServer.listeningPort(inLine: line) else {
                    child.kill()
                    throw StartFailed(description: "unexpected first line from caucus-relay: \(line)\n\(child.stderrSoFar)")
                }
                let metricsPort = lines.dropFirst().first.flatMap { RelayServer.metricsPort(inLine: $0) }
                if metricsPort != nil || !metricsAsked || !child.isRunning {
                    return RelayProcess(child: child, port: port, metricsPort: metricsPort)
                }
            }
            guard child.isRunning else {
                throw StartFailed(description: "caucus-relay exited before listening: \(child.stderrSoFar)")
            }
            guard clock.now < deadline else {
                child.kill()
                throw StartFailed(description: "caucus-relay did not listen within \(limit): \(child.stderrSoFar)")
            }
            do { try await Task.sleep(for: .milliseconds(10)) } catch {
                child.kill()
                throw error
            }
        }
    }

    private init(child: ChildProcess, port: Int, metricsPort: Int?) {
        self.child = child
        self.port = port
        self.metricsPort = metricsPort
    }

    public var isRunning: Bool { child.isRunning }

    /// Kills it with SIGKILL, as a crash or power cut would, and waits until it is gone.
    public func kill() { child.kill() }

    /// Stops it with SIGTERM and returns its exit status; kills it and throws if it has not
    /// stopped within `limit`.
    public func terminate(within limit: Duration = .seconds(30)) async throws -> Int32 {
        child.signal(SIGTERM)
        return try await child.finish(within: limit).status
    }
}

/// Adds "close every descriptor from `lowest` up" to `actions` (glibc's
/// posix_spawn_file_actions_addclosefrom_np, 2.34 and later, which Swift's Glibc module does not
/// declare because it needs _GNU_SOURCE).
private func closeFrom(_ lowest: Int32, in actions: inout posix_spawn_file_actions_t) {
    typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
    guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") else {
        preconditionFailure("this glibc has no posix_spawn_file_actions_addclosefrom_np (2.34 or later is needed)")
    }
    let addCloseFrom = unsafeBitCast(symbol, to: AddCloseFrom.self)
    let result = addCloseFrom(&actions, lowest)
    precondition(result == 0, "posix_spawn_file_actions_addclosefrom_np: \(String(cString: strerror(result)))")
}
