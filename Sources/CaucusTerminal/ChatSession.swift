import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The state of one run of the chat screen: the input line, and what to write for each thing that happens.
///
/// On a terminal (`interactive`) the input line stays at the bottom: every printed line first clears it and
/// then draws it again below. Otherwise lines are printed plainly and nothing is redrawn.
struct ChatSession {
    /// Everything the screen reacts to, in the order it happened.
    enum Input: Sendable {
        /// Bytes typed or piped in.
        case bytes([UInt8])
        /// The input ended (end of file, or the terminal went away).
        case inputEnded
        /// An event from the caller.
        case event(ChatScreenEvent)
        /// Lines the caller's `submit` returned.
        case output([ChatLine])
    }

    let prompt: String
    let outputFD: Int32
    let interactive: Bool
    let colour: Bool
    private(set) var editor = LineEditor()

    /// A session writing to `outputFD`.
    init(prompt: String, outputFD: Int32, interactive: Bool, colour: Bool) {
        self.prompt = prompt
        self.outputFD = outputFD
        self.interactive = interactive
        self.colour = colour
    }

    /// Reacts to `input`, handing submitted lines other than /quit to `submit`; false when the screen closes.
    mutating func handle(_ input: Input, submit: (String) -> Void) -> Bool {
        switch input {
        case let .bytes(bytes):
            for event in editor.feed(bytes) {
                switch event {
                case let .submit(line):
                    if line.trimmingCharacters(in: .whitespaces) == "/quit" {
                        return false
                    }
                    drawInputLine()
                    submit(line)
                case .interrupt, .endOfInput:
                    return false
                case .redraw:
                    drawInputLine()
                }
            }
            return true
        case .inputEnded:
            if !interactive {
                _ = handle(.bytes([0x0A]), submit: submit)  // a last line without a newline still counts
            }
            return false
        case let .event(.line(line)):
            show([line])
            return true
        case let .event(.status(status)):
            show([ChatLine(text: status, kind: .notice)])
            return true
        case .event(.quit):
            return false
        case let .output(lines):
            show(lines)
            return true
        }
    }

    /// Prints `text` as its own line above the input line.
    func printLine(_ text: String) {
        guard interactive else {
            emit(text + "\n")
            return
        }
        emit("\r\u{1B}[2K" + text + "\n" + editor.render(prompt: prompt, width: Terminal.size(outputFD).columns))
    }

    /// Prints `lines` above the input line.
    func show(_ lines: [ChatLine]) {
        guard !lines.isEmpty else { return }
        printLine(lines.map { $0.formatted(colour: colour) }.joined(separator: "\n"))
    }

    /// Draws the prompt and the input line with the cursor in place.
    func drawInputLine() {
        guard interactive else { return }
        emit(editor.render(prompt: prompt, width: Terminal.size(outputFD).columns))
    }

    /// Ends the input line so the shell's prompt starts on a clean one.
    func finish() {
        guard interactive else { return }
        emit("\n")
    }

    /// Writes all of `text`, giving up quietly if the output has gone away.
    private func emit(_ text: String) {
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            let count = bytes.withUnsafeBytes { write(outputFD, $0.baseAddress, $0.count) }
            if count > 0 {
                bytes = bytes.dropFirst(count)
            } else if count < 0, errno == EINTR || errno == EAGAIN {
                continue
            } else {
                return  // the terminal or pipe is gone; nothing more can be shown
            }
        }
    }
}
