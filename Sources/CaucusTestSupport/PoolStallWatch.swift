// A diagnostic for test runs: how long a task waits for Swift's cooperative pool, and a job for
// each of NIO's shared event loops.
import CaucusLock
import Dispatch
import Foundation
import NIOPosix
#if canImport(Glibc)
import Glibc
#endif

/// Watches the cooperative pool and NIO's shared event loops of the test process from a thread of
/// its own. Four times a second it starts a task at medium and one at high priority, and a job on
/// each event loop, and times how long each waits to run. With
/// `CAUCUS_TEST_STALL_DUMP=DIR` set, a wait over 1 s is logged to `DIR/stalls-PID.log`, and with
/// `CAUCUS_TEST_STALL_GDB=1` too, every thread's stack (from `gdb`) is written to
/// `DIR/stall-PID-N.txt` while the stall lasts, at most 5 times per process. Without the variable the
/// watch does not run.
public enum PoolStallWatch {
    /// Starts the watch once per process, if asked for.
    public static func startIfAsked() { _ = started }

    private static let started: Bool = {
        guard let directory = ProcessInfo.processInfo.environment["CAUCUS_TEST_STALL_DUMP"], !directory.isEmpty else {
            return false
        }
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let thread = Thread { watch(dumpingTo: directory) }
        thread.name = "pool-stall-watch"
        thread.start()
        return true
    }()

    private static func watch(dumpingTo directory: String) {
        let gdb = ProcessInfo.processInfo.environment["CAUCUS_TEST_STALL_GDB"] == "1"
        var dumps = 0
        while true {
            usleep(250_000)
            let start = DispatchTime.now()
            let ran = DispatchGroup()
            let waits = Locked<[UInt8: Double]>([:])
            for priority in [TaskPriority.medium, .high] {
                ran.enter()
                Task.detached(priority: priority) {
                    waits.withLock { $0[priority.rawValue] = seconds(since: start) }
                    ran.leave()
                }
            }
            let loops = Array(MultiThreadedEventLoopGroup.singleton.makeIterator())
            let loopWaits = Locked<[Int: Double]>([:])
            for (index, loop) in loops.enumerated() {
                ran.enter()
                loop.execute {
                    loopWaits.withLock { $0[index] = seconds(since: start) }
                    ran.leave()
                }
            }
            if ran.wait(timeout: .now() + 1) == .success { continue }
            if gdb, dumps < 5 {
                dumps += 1
                dump(to: (directory as NSString).appendingPathComponent("stall-\(getpid())-\(dumps).txt"))
            }
            ran.wait()
            let (mediumWait, highWait) = waits.withLock { ($0[TaskPriority.medium.rawValue] ?? 0, $0[TaskPriority.high.rawValue] ?? 0) }
            let loopText = loopWaits.withLock { waits in waits.keys.sorted().map { String(format: "%.1f", waits[$0]!) }.joined(separator: ", ") }
            let line = String(format: "pool-stall-watch: a task waited %.1f s (medium) and %.1f s (high) for the cooperative pool; event loops: %@\n",
                              mediumWait, highWait, loopText)
            let log = (directory as NSString).appendingPathComponent("stalls-\(getpid()).log")
            if let handle = FileHandle(forWritingAtPath: log) ?? {
                _ = FileManager.default.createFile(atPath: log, contents: nil)
                return FileHandle(forWritingAtPath: log)
            }() {
                handle.seekToEndOfFile()
                handle.write(Data("\(Date()) \(line)".utf8))
                try? handle.close()
            }
        }
    }

    private static func seconds(since start: DispatchTime) -> Double {
        Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
    }

    /// Every thread's stack, from gdb attached for a moment.
    private static func dump(to file: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/gdb")
        process.arguments = ["-p", "\(getpid())", "-batch", "-ex", "thread apply all bt 30"]
        _ = FileManager.default.createFile(atPath: file, contents: nil)
        guard let output = FileHandle(forWritingAtPath: file) else { return }
        process.standardOutput = output
        process.standardError = output
        do {
            try process.run()
            process.waitUntilExit()
        } catch {
            output.write(Data("gdb did not start: \(error)\n".utf8))
        }
        try? output.close()
    }
}
