/// One line of keyboard input being edited, with a history of submitted lines: bytes from a raw terminal go
/// in, events come out. Does no I/O; `render` says what to write to show the line.
public struct LineEditor: Sendable {
    /// What a call to `feed` asks of the caller.
    public enum Event: Sendable, Equatable {
        /// Enter on a line with more than blanks; the editor starts an empty line.
        case submit(String)
        /// Ctrl-C; the editor starts an empty line.
        case interrupt
        /// Ctrl-D on an empty line.
        case endOfInput
        /// The line or the cursor changed since the last event (or Ctrl-L asked); draw it again.
        case redraw
    }

    /// The most submitted lines kept for Up and Down.
    public static let historyLimit = 500

    /// Submitted lines, oldest first, without consecutive repeats.
    public private(set) var history: [String]
    /// The cursor position, in characters from the start of the line.
    public private(set) var cursor = 0
    private(set) var characters: [Character] = []
    /// Bytes of a key sequence or character that has not fully arrived.
    private var pending: [UInt8] = []
    /// The history entry shown, or nil while editing the new line.
    private var historyIndex: Int?
    /// The new line, kept while Up and Down show history entries.
    private var draft: [Character] = []

    /// An empty line; `history` (oldest first) is what Up walks back through.
    public init(history: [String] = []) {
        self.history = Array(history.suffix(Self.historyLimit))
    }

    /// The text of the line.
    public var text: String {
        String(characters)
    }

    /// Applies the keys in `bytes`; a sequence cut off at the end is completed by the next call.
    public mutating func feed(_ bytes: [UInt8]) -> [Event] {
        pending += bytes
        var events: [Event] = []
        var changed = false
        var index = 0
        decoding: while index < pending.count {
            switch Self.decode(pending, at: index) {
            case .incomplete:
                break decoding
            case let .key(key, length):
                index += length
                let before = (characters, cursor)
                switch apply(key) {
                case .redraw?:
                    changed = true
                case let event?:
                    events.append(event)
                    changed = false  // a submitted or interrupted line gives way to a fresh one
                case nil:
                    changed = changed || before.0 != characters || before.1 != cursor
                }
            }
        }
        pending.removeFirst(index)
        if changed {
            events.append(.redraw)
        }
        return events
    }

    /// Performs `key`; returns the event it raises at once, if any.
    private mutating func apply(_ key: Key) -> Event? {
        switch key {
        case let .text(text):
            insert(text)
        case let .control(byte):
            return applyControl(byte)
        case .left:
            cursor = max(0, cursor - 1)
        case .right:
            cursor = min(characters.count, cursor + 1)
        case .home:
            cursor = 0
        case .end:
            cursor = characters.count
        case .delete:
            deleteForward()
        case .up:
            showOlderEntry()
        case .down:
            showNewerEntry()
        case .ignored:
            break
        }
        return nil
    }

    private mutating func applyControl(_ byte: UInt8) -> Event? {
        switch byte {
        case 0x01: cursor = 0  // Ctrl-A
        case 0x02: cursor = max(0, cursor - 1)  // Ctrl-B
        case 0x03:  // Ctrl-C
            startNewLine()
            return .interrupt
        case 0x04:  // Ctrl-D
            guard characters.isEmpty else {
                deleteForward()
                return nil
            }
            return .endOfInput
        case 0x05: cursor = characters.count  // Ctrl-E
        case 0x06: cursor = min(characters.count, cursor + 1)  // Ctrl-F
        case 0x08, 0x7F:  // Backspace
            guard cursor > 0 else { return nil }
            characters.remove(at: cursor - 1)
            cursor -= 1
        case 0x0A, 0x0D:  // Enter
            return submit()
        case 0x0B: characters.removeSubrange(cursor...)  // Ctrl-K
        case 0x0C: return .redraw  // Ctrl-L
        case 0x0E: showNewerEntry()  // Ctrl-N
        case 0x10: showOlderEntry()  // Ctrl-P
        case 0x15:  // Ctrl-U
            characters.removeSubrange(..<cursor)
            cursor = 0
        case 0x17: deleteWordBackward()  // Ctrl-W
        default: break
        }
        return nil
    }

    /// Inserts `text` at the cursor, leaving out control characters; the cursor moves past it.
    private mutating func insert(_ text: String) {
        var scalars = String.UnicodeScalarView()
        scalars.append(contentsOf: text.unicodeScalars.filter { $0.properties.generalCategory != .control })
        let head = String(characters[..<cursor]) + String(scalars)
        characters = Array(head + String(characters[cursor...]))
        cursor = min(head.count, characters.count)
    }

    private mutating func deleteForward() {
        guard cursor < characters.count else { return }
        characters.remove(at: cursor)
    }

    /// Deletes the blanks before the cursor and then the word before them, as Ctrl-W does in a shell.
    private mutating func deleteWordBackward() {
        var start = cursor
        while start > 0, characters[start - 1].isWhitespace {
            start -= 1
        }
        while start > 0, !characters[start - 1].isWhitespace {
            start -= 1
        }
        characters.removeSubrange(start..<cursor)
        cursor = start
    }

    private mutating func showOlderEntry() {
        guard !history.isEmpty else { return }
        if let index = historyIndex {
            guard index > 0 else { return }
            historyIndex = index - 1
        } else {
            draft = characters
            historyIndex = history.count - 1
        }
        show(Array(history[historyIndex ?? 0]))
    }

    private mutating func showNewerEntry() {
        guard let index = historyIndex else { return }
        if index + 1 < history.count {
            historyIndex = index + 1
            show(Array(history[index + 1]))
        } else {
            historyIndex = nil
            show(draft)
        }
    }

    private mutating func show(_ line: [Character]) {
        characters = line
        cursor = line.count
    }

    /// Hands the line over when it holds more than blanks, records it in the history, and starts a new line.
    private mutating func submit() -> Event? {
        let line = text
        startNewLine()
        guard line.contains(where: { !$0.isWhitespace }) else { return nil }
        if history.last != line {
            history.append(line)
            if history.count > Self.historyLimit {
                history.removeFirst(history.count - Self.historyLimit)
            }
        }
        return .submit(line)
    }

    private mutating func startNewLine() {
        characters = []
        cursor = 0
        historyIndex = nil
        draft = []
    }
}
