import CaucusText
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The interactive screen of `caucus chat`: the conversation scrolls up like a log, with the input line kept
/// at the bottom. Uses no alternate screen, so it works inside tmux and leaves the conversation in scrollback.
public final class ChatScreen: Sendable {
    /// The line printed first, naming the conversation.
    public let title: String
    /// What the input line starts with.
    public let prompt: String
    /// Where keys are read from.
    public let inputFD: Int32
    /// Where the conversation is written.
    public let outputFD: Int32

    /// A screen reading keys from `inputFD` and writing to `outputFD`.
    public init(title: String, prompt: String = "> ", inputFD: Int32 = STDIN_FILENO, outputFD: Int32 = STDOUT_FILENO) {
        self.title = title
        self.prompt = prompt
        self.inputFD = inputFD
        self.outputFD = outputFD
    }

    /// Shows `history`, then runs until /quit, Ctrl-C, Ctrl-D on an empty line, or a .quit event; every submitted
    /// line is passed to `submit` (which may return lines to print, e.g. command output); restores the terminal
    /// on every way out.
    ///
    /// Lines are submitted one at a time, in order; on the way out the screen waits for the last ones to finish
    /// and prints what they return. When input and output are not both terminals (pipes, tests), lines are read
    /// as they come and printed without any redrawing.
    public func run(
        history: [ChatLine], events: AsyncStream<ChatScreenEvent>, submit: @escaping @Sendable (String) async -> [ChatLine]
    ) async {
        let rawMode = Terminal.isTerminal(inputFD) && Terminal.isTerminal(outputFD) ? try? Terminal.RawMode(fd: inputFD) : nil
        defer { rawMode?.restore() }
        let noColour = ProcessInfo.processInfo.environment["NO_COLOR"].map { !$0.isEmpty } ?? false
        var session = ChatSession(
            prompt: prompt, outputFD: outputFD, interactive: rawMode != nil,
            colour: Terminal.isTerminal(outputFD) && !noColour
        )
        let shownTitle = TerminalText.visible(title)
        session.printLine(session.colour ? "\u{1B}[1m" + shownTitle + "\u{1B}[0m" : shownTitle)
        session.show(history)

        let (inputs, sink) = AsyncStream.makeStream(of: ChatSession.Input.self)
        let reader = InputReader(fd: inputFD)
        reader.start(received: { sink.yield(.bytes($0)) }, ended: { sink.yield(.inputEnded) })
        let forwarder = Task {
            for await event in events {
                sink.yield(.event(event))
            }
        }
        let (submissions, queue) = AsyncStream.makeStream(of: String.self)
        let submitter = Task {
            for await line in submissions {
                sink.yield(.output(await submit(line)))
            }
        }

        var iterator = inputs.makeAsyncIterator()
        var submitted = 0, answered = 0
        while let input = await iterator.next() {
            if case .output = input { answered += 1 }
            guard session.handle(input, submit: { submitted += 1; queue.yield($0) }) else { break }
        }

        reader.stop()
        forwarder.cancel()
        queue.finish()
        if Task.isCancelled {
            submitter.cancel()
        }
        // The terminal goes back to the shell before any wait on the network; lines still being
        // sent are then reported plainly, and Ctrl-C works as it does anywhere else.
        session.finish()
        rawMode?.restore()
        let plain = ChatSession(prompt: prompt, outputFD: outputFD, interactive: false, colour: session.colour)
        if session.interactive, submitted > answered, !Task.isCancelled {
            plain.printLine("sending \(submitted - answered) line(s) you typed… (Ctrl-C leaves now: what was already queued is sent next time)")
        }
        await submitter.value
        sink.finish()
        while let input = await iterator.next() {
            if case .output(let lines) = input { plain.show(lines) }
        }
    }
}
