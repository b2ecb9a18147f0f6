// The fuzz driver. Built by `scripts/fuzz` with `-sanitize=fuzzer -DCAUCUS_LIBFUZZER`, it is a
// libFuzzer binary whose target is named by CAUCUS_FUZZ_TARGET; in a normal build it lists
// targets, writes their seed inputs, replays inputs, and runs the seeded random-input harness.
import CaucusFuzz
import CaucusProtocol
import Foundation

#if CAUCUS_LIBFUZZER
nonisolated(unsafe) private var selected: FuzzTarget?

/// libFuzzer's start-up hook: picks the target and builds its fixtures before any input runs.
/// CAUCUS_FUZZ_TARGET=list prints the targets and exits. CAUCUS_FUZZ_CORPUS=DIR writes the
/// target's seeds into DIR first: made in this process, messages from the fixtures' sessions and
/// groups (whose keys are random) decrypt, which seeds from another run would not.
@_cdecl("LLVMFuzzerInitialize")
public func fuzzerInitialize(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> CInt {
    let environment = ProcessInfo.processInfo.environment
    if environment["CAUCUS_FUZZ_TARGET"] == "list" {
        for target in FuzzTargets.all { print("\(target.name)\t\(target.summary)") }
        exit(0)
    }
    guard let name = environment["CAUCUS_FUZZ_TARGET"], let target = FuzzTargets.named(name) else {
        FileHandle.standardError.write(Data("set CAUCUS_FUZZ_TARGET to one of: \(FuzzTargets.all.map(\.name).joined(separator: " "))\n".utf8))
        exit(2)
    }
    if let directory = environment["CAUCUS_FUZZ_CORPUS"] { writeSeeds(of: target, to: directory) }
    selected = target
    for seed in target.seeds() { try? target.check(seed) }
    return 0
}

@_silgen_name("LLVMFuzzerRunDriver")
private func runDriver(
    _ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

/// The program's entry: SwiftPM links an executable's `main` to `<module>_main`, so this one
/// hands the command line to libFuzzer's driver (instead of libFuzzer's own `main`).
@_cdecl("caucus_fuzz_main")
public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    var argc = argc, argv = Optional(argv)
    return runDriver(&argc, &argv) { data, size in fuzzerTestOneInput(data, size) }
}

/// libFuzzer's entry point: one input; a broken property stops the run like a crash does.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let target = selected else { return 0 }
    let input = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    do { try target.check(input) } catch { fatalError("\(target.name): \(error)") }
    return 0
}
#else
@main
struct FuzzCommand {
    static let usage = """
        usage: caucus-fuzz list
               caucus-fuzz seeds TARGET DIR          write the target's seed inputs into DIR
               caucus-fuzz run TARGET FILE...        replay inputs (crash inputs, a corpus)
               caucus-fuzz random TARGET [--seconds S] [--seed N] [--artifacts DIR]
                                                     the seeded random-input harness (no libFuzzer)
        """

    static func main() {
        var arguments = Array(CommandLine.arguments.dropFirst())
        guard let command = arguments.first else { fail(usage) }
        arguments.removeFirst()
        if command == "--version" {
            print(CaucusRelease.versionLine("caucus-fuzz"))
            return
        }
        if command == "list" {
            for target in FuzzTargets.all { print("\(target.name)\t\(target.summary)") }
            return
        }
        guard let name = arguments.first else { fail(usage) }
        guard let target = FuzzTargets.named(name) else { fail("no target \(name); `caucus-fuzz list` names them") }
        arguments.removeFirst()
        switch command {
        case "seeds":
            guard let directory = arguments.first else { fail(usage) }
            writeSeeds(of: target, to: directory)
        case "run":
            var failed = false
            for path in arguments {
                guard let data = FileManager.default.contents(atPath: path) else { fail("cannot read \(path)") }
                do { try target.check(Array(data)) } catch {
                    print("\(path): FAILED: \(error)")
                    failed = true
                }
            }
            print("\(target.name): replayed \(arguments.count) input(s)\(failed ? ", some failed" : ", all passed")")
            if failed { exit(1) }
        case "random":
            random(target, arguments)
        default:
            fail(usage)
        }
    }

    static func random(_ target: FuzzTarget, _ arguments: [String]) {
        func option(_ name: String) -> String? {
            arguments.firstIndex(of: name).flatMap { arguments.indices.contains($0 + 1) ? arguments[$0 + 1] : nil }
        }
        let seconds = option("--seconds").flatMap(Double.init) ?? 10
        let seed = option("--seed").flatMap(UInt64.init) ?? 1
        let artifacts = option("--artifacts") ?? "."
        try? FileManager.default.createDirectory(atPath: artifacts, withIntermediateDirectories: true)
        CrashWriter.arm(path: "\(artifacts)/crash-\(target.name)-seed\(seed)")
        var mutator = Mutator(seeds: target.seeds(), seed: seed)
        let start = Date()
        var iterations = 0
        while Date().timeIntervalSince(start) < seconds {
            for _ in 0..<64 {
                let input = mutator.next()
                CrashWriter.keep(input)
                do { try target.check(input) } catch {
                    let path = "\(artifacts)/failure-\(target.name)-seed\(seed)-\(iterations)"
                    let written = FileManager.default.createFile(atPath: path, contents: Data(input))
                    fail("\(target.name): \(error)\ninput \(written ? "written to" : "could not be written to") \(path)")
                }
                iterations += 1
            }
        }
        let elapsed = Date().timeIntervalSince(start)
        print("\(target.name): \(iterations) inputs in \(String(format: "%.1f", elapsed)) s (\(Int(Double(iterations) / elapsed)) exec/s), seed \(seed), no failure")
    }

    static func fail(_ message: String) -> Never {
        FileHandle.standardError.write(Data((message + "\n").utf8))
        exit(1)
    }
}

/// Keeps the input being checked where a signal handler can write it out, so that an input that
/// traps (overflow, bounds, precondition) is saved before the process dies.
enum CrashWriter {
    nonisolated(unsafe) private static var buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 1)
    nonisolated(unsafe) private static var count = 0
    nonisolated(unsafe) private static var path: UnsafeMutablePointer<CChar>?

    static func arm(path: String) {
        self.path = strdup(path)
        for signal in [SIGILL, SIGTRAP, SIGABRT, SIGSEGV, SIGBUS, SIGFPE] {
            Foundation.signal(signal) { number in
                if let path = CrashWriter.path {
                    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
                    if fd >= 0 {
                        _ = write(fd, CrashWriter.buffer.baseAddress, CrashWriter.count)
                        close(fd)
                    }
                }
                Foundation.signal(number, SIG_DFL)
                raise(number)
            }
        }
    }

    static func keep(_ input: [UInt8]) {
        count = min(input.count, buffer.count)
        input.withUnsafeBytes { buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0.prefix(count))) }
    }
}
#endif

/// Writes the target's seed inputs into `directory` as seed-0, seed-1, ….
func writeSeeds(of target: FuzzTarget, to directory: String) {
    try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    for (index, seed) in target.seeds().enumerated() {
        let path = "\(directory)/seed-\(index)"
        if !FileManager.default.createFile(atPath: path, contents: Data(seed)) {
            FileHandle.standardError.write(Data("caucus-fuzz: could not write \(path)\n".utf8))
        }
    }
}
