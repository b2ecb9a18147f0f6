import CaucusLock
import Foundation
import Synchronization
import Testing
@testable import CaucusTerminal
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Records what the screen submits and answers each line with the outgoing message it would show.
final class Submissions: Sendable {
    private let lines = Locked<[String]>([])
    static let time = Date(timeIntervalSince1970: 1_700_000_000)

    var received: [String] { lines.withLock { $0 } }

    func submit(_ line: String) async -> [ChatLine] {
        lines.withLock { $0.append(line) }
        return [Self.outgoing(line)]
    }

    static func outgoing(_ text: String) -> ChatLine {
        ChatLine(time: time, sender: "you", text: text, kind: .outgoing)
    }

    /// Waits until `count` lines have been submitted, for at most ten seconds.
    func waitFor(count: Int) async {
        let deadline = ContinuousClock.now + .seconds(10)
        while received.count < count, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(5))
        }
    }
}

extension TerminalDeviceTests {
    static let clear = "\r\u{1B}[2K"

    @Test("run: typing, an incoming line while typing, and /quit, with the terminal restored afterwards")
    func chatOnTerminal() async throws {
        let terminal = try PseudoTerminal()
        let before = terminal.attributes
        let submissions = Submissions()
        let (events, eventSink) = AsyncStream.makeStream(of: ChatScreenEvent.self)
        let earlier = ChatLine(time: Submissions.time, sender: "alice", text: "meeting at 6?", kind: .incoming)
        let screen = ChatScreen(title: "Caucus: alice", inputFD: terminal.slave, outputFD: terminal.slave)
        let running = Task { await screen.run(history: [earlier], events: events, submit: submissions.submit) }

        let opening = await terminal.waitFor(earlier.formatted(colour: false) + "\r\n" + Self.clear + "> ")
        #expect(opening.contains("Caucus: alice"))
        #expect(terminal.attributes.c_lflag & tcflag_t(ICANON | ECHO) == 0)

        terminal.type("hello\r")
        await submissions.waitFor(count: 1)
        #expect(submissions.received == ["hello"])
        await terminal.waitFor(Self.clear + Submissions.outgoing("hello").formatted(colour: false) + "\r\n" + Self.clear + "> ")

        terminal.type("wor\u{1B}[D")
        await terminal.waitFor(Self.clear + "> wor\u{1B}[1D")
        let incoming = ChatLine(time: Submissions.time, sender: "bo", text: "see you\nthere", kind: .incoming)
        eventSink.yield(.line(incoming))
        let expected = incoming.formatted(colour: false).replacingOccurrences(of: "\n", with: "\r\n")
        await terminal.waitFor(Self.clear + expected + "\r\n" + Self.clear + "> wor\u{1B}[1D")

        eventSink.yield(.status("reconnecting in 4 s…"))
        let status = await terminal.waitFor("* reconnecting in 4 s…\r\n" + Self.clear + "> wor\u{1B}[1D")
        #expect(status.contains(/\d\d:\d\d \* reconnecting in 4 s…/))

        terminal.type("\u{5}\u{15}/me waves\r")
        await submissions.waitFor(count: 2)
        terminal.type("/quit\r")
        await running.value
        #expect(submissions.received == ["hello", "/me waves"])
        #expect(sameSettings(terminal.attributes, before))
        #expect(terminal.remaining().hasSuffix(Self.clear + "> \r\n"))
    }

    @Test("leaving while a line is still being sent gives the terminal back first, then shows the line once sent")
    func leavingWhileSending() async throws {
        let terminal = try PseudoTerminal()
        let before = terminal.attributes
        let relayAnswers = Atomic<Bool>(false)
        let screen = ChatScreen(title: "t", inputFD: terminal.slave, outputFD: terminal.slave)
        let running = Task {
            await screen.run(history: [], events: AsyncStream { _ in }) { line in
                while !relayAnswers.load(ordering: .acquiring) { try? await Task.sleep(for: .milliseconds(5)) }
                return [Submissions.outgoing(line)]
            }
        }
        await terminal.waitFor(Self.clear + "> ")
        terminal.type("slow line\r\u{3}")
        await terminal.waitFor("sending 1 line(s) you typed")
        #expect(sameSettings(terminal.attributes, before), "the terminal is restored while the line is still on its way")
        relayAnswers.store(true, ordering: .releasing)
        await running.value
        let rest = terminal.remaining()
        #expect(rest.contains(Submissions.outgoing("slow line").formatted(colour: false)), "\(rest)")
        #expect(!rest.contains("\u{1B}["), "after the chat, lines are printed plainly: \(rest)")
    }

    /// The ways out of a run besides /quit; `eventsEnded` ends the event stream first, which must not end the run.
    enum WayOut: String, CaseIterable, CustomTestStringConvertible {
        case controlC, controlD, quitEvent, cancellation, eventsEnded
        var testDescription: String { rawValue }
    }

    @Test("run ends and restores the terminal on every way out", arguments: WayOut.allCases)
    func waysOut(_ way: WayOut) async throws {
        let terminal = try PseudoTerminal()
        let before = terminal.attributes
        let submissions = Submissions()
        let (events, eventSink) = AsyncStream.makeStream(of: ChatScreenEvent.self)
        let screen = ChatScreen(title: "t", inputFD: terminal.slave, outputFD: terminal.slave)
        let running = Task { await screen.run(history: [], events: events, submit: submissions.submit) }
        await terminal.waitFor(Self.clear + "> ")
        terminal.type("draft")
        await terminal.waitFor("> draft")
        switch way {
        case .controlC: terminal.type("\u{3}")
        case .controlD: terminal.type("\u{15}\u{4}")
        case .quitEvent: eventSink.yield(.quit)
        case .cancellation: running.cancel()
        case .eventsEnded:
            eventSink.finish()
            terminal.type("!")
            await terminal.waitFor("> draft!")
            terminal.type("\u{3}")
        }
        await running.value
        #expect(submissions.received.isEmpty)
        #expect(sameSettings(terminal.attributes, before))
        #expect(terminal.remaining().hasSuffix("\r\n"))
    }
}

@Suite("Chat screen without a terminal")
struct ChatScreenPipeTests {
    /// Runs a screen on pipes with `input` already written, the write end closed when `closeInput`.
    static func run(_ input: String, closeInput: Bool) async -> (output: String, submitted: [String]) {
        let stdin = Pipe()
        let stdout = Pipe()
        stdin.fileHandleForWriting.write(Data(input.utf8))
        if closeInput {
            try? stdin.fileHandleForWriting.close()
        }
        let submissions = Submissions()
        let screen = ChatScreen(
            title: "Caucus: alice", inputFD: stdin.fileHandleForReading.fileDescriptor,
            outputFD: stdout.fileHandleForWriting.fileDescriptor
        )
        let earlier = ChatLine(time: Submissions.time, sender: "alice", text: "hi", kind: .incoming)
        await screen.run(history: [earlier], events: AsyncStream { _ in }, submit: submissions.submit)
        try? stdout.fileHandleForWriting.close()
        let output = String(decoding: stdout.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        return (output, submissions.received)
    }

    @Test("piped lines are submitted in order and the output has no escape sequences")
    func pipedLines() async {
        let (output, submitted) = await Self.run("hello\nsecond\n/quit\nafter quit\n", closeInput: false)
        #expect(submitted == ["hello", "second"])
        let earlier = ChatLine(time: Submissions.time, sender: "alice", text: "hi", kind: .incoming)
        #expect(output == "Caucus: alice\n" + earlier.formatted(colour: false) + "\n"
            + Submissions.outgoing("hello").formatted(colour: false) + "\n"
            + Submissions.outgoing("second").formatted(colour: false) + "\n")
    }

    @Test("the end of piped input ends the run, submitting a last line that has no newline")
    func endOfInput() async {
        let (output, submitted) = await Self.run("one\ntwo", closeInput: true)
        #expect(submitted == ["one", "two"])
        #expect(!output.contains("\u{1B}"))
        #expect(output.hasSuffix(Submissions.outgoing("two").formatted(colour: false) + "\n"))
    }
}

@Suite("Chat session output")
struct ChatSessionTests {
    /// A session on a terminal-style output that writes into a pipe, and a way to read what it wrote.
    static func session(interactive: Bool) -> (ChatSession, () -> String, Pipe) {
        let pipe = Pipe()
        let session = ChatSession(prompt: "> ", outputFD: pipe.fileHandleForWriting.fileDescriptor, interactive: interactive, colour: false)
        return (session, { String(decoding: pipe.fileHandleForReading.availableData, as: UTF8.self) }, pipe)
    }

    @Test("an event line clears the input line, prints, and redraws the typed text with the cursor in place")
    func redrawAroundEventLine() {
        var (session, written, pipe) = Self.session(interactive: true)
        defer { _ = pipe }
        var submitted: [String] = []
        #expect(session.handle(.bytes(Array("wor".utf8))) { submitted.append($0) })
        #expect(session.handle(.bytes([0x02])) { submitted.append($0) })
        #expect(written() == "\r\u{1B}[2K> wor\r\u{1B}[2K> wor\u{1B}[1D")
        let line = ChatLine(time: Submissions.time, sender: "bo", text: "hi", kind: .incoming)
        #expect(session.handle(.event(.line(line))) { submitted.append($0) })
        #expect(written() == "\r\u{1B}[2K" + line.formatted(colour: false) + "\n\r\u{1B}[2K> wor\u{1B}[1D")
        #expect(session.handle(.event(.status("offline"))) { submitted.append($0) })
        #expect(written().hasSuffix(" * offline\n\r\u{1B}[2K> wor\u{1B}[1D"))
        #expect(submitted.isEmpty)
    }

    @Test("a submitted line clears the input line and is handed over; /quit is not")
    func submitAndQuit() {
        var (session, written, pipe) = Self.session(interactive: true)
        defer { _ = pipe }
        var submitted: [String] = []
        #expect(session.handle(.bytes(Array("/who\r".utf8))) { submitted.append($0) })
        #expect(submitted == ["/who"])
        #expect(written().hasSuffix("\r\u{1B}[2K> "))
        #expect(!session.handle(.bytes(Array(" /quit \r".utf8))) { submitted.append($0) })
        #expect(submitted == ["/who"])
    }

    @Test("without a terminal nothing is redrawn")
    func plain() {
        var (session, written, pipe) = Self.session(interactive: false)
        defer { _ = pipe }
        #expect(session.handle(.bytes(Array("typing".utf8))) { _ in })
        #expect(session.handle(.event(.line(ChatLine(time: Submissions.time, sender: "bo", text: "hi")))) { _ in })
        #expect(written() == ChatLine(time: Submissions.time, sender: "bo", text: "hi").formatted(colour: false) + "\n")
    }
}
