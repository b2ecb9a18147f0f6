// CPU time over a throughput run's measurement window: this benchmark process (the load
// generator) and the caucus-relay process it drives, so that a reader sees which side was busy.
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// CPU time used so far, read at one moment.
struct CPUSample: Sendable {
    /// Monotonic nanoseconds when the sample was taken.
    let at: UInt64
    /// User plus system time of this whole process (all its threads), in microseconds.
    let benchMicroseconds: UInt64
    /// User plus system time of the relay's process, in microseconds (10 ms granularity); nil
    /// when there is no relay process or its /proc entry cannot be read.
    let relayMicroseconds: UInt64?

    /// Reads this process's usage (`getrusage(RUSAGE_SELF)`) and `/proc/<relayPID>/stat`.
    static func now(relayPID: Int32?) -> CPUSample {
        var usage = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        let bench = microseconds(usage.ru_utime) + microseconds(usage.ru_stime)
        return CPUSample(at: monotonicNanos(), benchMicroseconds: bench,
                         relayMicroseconds: relayPID.flatMap(processMicroseconds))
    }

    private static func microseconds(_ time: timeval) -> UInt64 {
        UInt64(max(time.tv_sec, 0)) * 1_000_000 + UInt64(max(time.tv_usec, 0))
    }

    /// utime + stime (fields 14 and 15 of /proc/PID/stat, in clock ticks), in microseconds.
    private static func processMicroseconds(_ pid: Int32) -> UInt64? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let nameEnd = text.lastIndex(of: ")")
        else { return nil }
        // After the parenthesised command name: field 3 (state) is the first, so utime is the 12th.
        let fields = text[text.index(after: nameEnd)...].split(separator: " ")
        let ticksPerSecond = sysconf(Int32(_SC_CLK_TCK))
        guard fields.count > 12, ticksPerSecond > 0, let user = UInt64(fields[11]), let system = UInt64(fields[12])
        else { return nil }
        return (user + system) * 1_000_000 / UInt64(ticksPerSecond)
    }
}

/// CPU used between two samples, as a share of one core and per delivered message.
struct CPUUsage: Codable, Sendable {
    /// This benchmark process: the load generator (and any idle threads beside it).
    var generatorPercentOfCore: Double
    var generatorMicrosecondsPerMessage: Double
    /// The caucus-relay process, when it runs in a process of its own.
    var relayPercentOfCore: Double?
    var relayMicrosecondsPerMessage: Double?

    init(from start: CPUSample, to end: CPUSample, delivered: Int) {
        let wallMicroseconds = max(Double(end.at - start.at) / 1_000, 1)
        let messages = Double(max(delivered, 1))
        let bench = Double(end.benchMicroseconds - start.benchMicroseconds)
        generatorPercentOfCore = 100 * bench / wallMicroseconds
        generatorMicrosecondsPerMessage = bench / messages
        if let before = start.relayMicroseconds, let after = end.relayMicroseconds, after >= before {
            let relay = Double(after - before)
            relayPercentOfCore = 100 * relay / wallMicroseconds
            relayMicrosecondsPerMessage = relay / messages
        }
    }
}
