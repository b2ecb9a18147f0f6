import Testing
@testable import CaucusTerminal

@Suite("Line editor")
struct LineEditorTests {
    static let escape = "\u{1B}"

    /// An editor after typing `keys`.
    static func editor(_ keys: String..., history: [String] = []) -> LineEditor {
        var editor = LineEditor(history: history)
        for key in keys {
            _ = editor.feed(Array(key.utf8))
        }
        return editor
    }

    @Test("printable text is inserted at the cursor and each change asks for one redraw")
    func insert() {
        var editor = LineEditor()
        #expect(editor.feed(Array("helo".utf8)) == [.redraw])
        #expect(editor.feed(Array("\(Self.escape)[D".utf8)) == [.redraw])
        #expect(editor.feed(Array("l".utf8)) == [.redraw])
        #expect(editor.text == "hello")
        #expect(editor.cursor == 4)
    }

    @Test("multi-byte characters count as one, even when their bytes arrive in separate reads")
    func utf8() {
        var editor = LineEditor()
        let bytes = Array("añ✊🏽".utf8)
        for byte in bytes {
            _ = editor.feed([byte])
        }
        #expect(editor.text == "añ✊🏽")
        #expect(editor.cursor == 3)
        _ = editor.feed([0x7F])
        #expect(editor.text == "añ")
        _ = editor.feed(Array("\(Self.escape)[D".utf8))
        #expect(editor.cursor == 1)
    }

    @Test("a combining mark joins the character before the cursor")
    func combining() {
        var editor = Self.editor("cafe")
        _ = editor.feed(Array("\u{301}".utf8))
        #expect(editor.text == "café")
        #expect(editor.cursor == 4)
    }

    @Test("malformed UTF-8 becomes U+FFFD and control characters in pasted text are dropped")
    func malformed() {
        var editor = LineEditor()
        _ = editor.feed([0x61, 0xC3, 0x62, 0xC2, 0x9B, 0x63])
        #expect(editor.text == "a\u{FFFD}bc")
    }

    @Test("Backspace, as 0x7F or 0x08, deletes before the cursor and does nothing at the start")
    func backspace() {
        var editor = Self.editor("abc", "\u{7F}")
        #expect(editor.text == "ab")
        _ = editor.feed([0x08])
        #expect(editor.text == "a")
        _ = editor.feed(Array("\(Self.escape)[H".utf8))
        #expect(editor.feed([0x7F]) == [])
        #expect(editor.text == "a")
    }

    @Test("Delete removes the character under the cursor")
    func delete() {
        var editor = Self.editor("abc", "\u{1}", "\(Self.escape)[3~")
        #expect(editor.text == "bc")
        #expect(editor.cursor == 0)
        _ = editor.feed(Array("\u{5}\(Self.escape)[3~".utf8))
        #expect(editor.text == "bc")
    }

    @Test("Left and Right move by one character in both CSI and SS3 forms and stop at the ends", arguments: ["[", "O"])
    func leftRight(_ introducer: String) {
        var editor = Self.editor("ab")
        let left = Array("\(Self.escape)\(introducer)D".utf8)
        let right = Array("\(Self.escape)\(introducer)C".utf8)
        _ = editor.feed(left)
        #expect(editor.cursor == 1)
        _ = editor.feed(left + left + left)
        #expect(editor.cursor == 0)
        #expect(editor.feed(left) == [])
        _ = editor.feed(right)
        #expect(editor.cursor == 1)
        _ = editor.feed(right + right + right)
        #expect(editor.cursor == 2)
    }

    @Test("Ctrl-B and Ctrl-F move like Left and Right")
    func controlLeftRight() {
        #expect(Self.editor("abc", "\u{2}\u{2}").cursor == 1)
        #expect(Self.editor("abc", "\u{2}\u{2}\u{6}").cursor == 2)
    }

    @Test("Home and End in every form a terminal sends", arguments: [
        ("[H", "[F"), ("OH", "OF"), ("[1~", "[4~"), ("[7~", "[8~"),
    ])
    func homeEnd(_ keys: (home: String, end: String)) {
        var editor = Self.editor("hello")
        _ = editor.feed(Array("\(Self.escape)\(keys.home)".utf8))
        #expect(editor.cursor == 0)
        _ = editor.feed(Array("\(Self.escape)\(keys.end)".utf8))
        #expect(editor.cursor == 5)
    }

    @Test("Ctrl-A and Ctrl-E go to the start and end")
    func controlHomeEnd() {
        var editor = Self.editor("hello", "\u{1}")
        #expect(editor.cursor == 0)
        _ = editor.feed([0x05])
        #expect(editor.cursor == 5)
    }

    @Test("Ctrl-U kills to the start, Ctrl-K to the end")
    func kill() {
        let killed = Self.editor("hello world", "\u{2}\u{2}\u{2}\u{2}\u{2}", "\u{15}")
        #expect(killed.text == "world")
        #expect(killed.cursor == 0)
        let cut = Self.editor("hello world", "\u{2}\u{2}\u{2}\u{2}\u{2}", "\u{B}")
        #expect(cut.text == "hello ")
        #expect(cut.cursor == 6)
    }

    @Test("Ctrl-W deletes the word before the cursor with the blanks after it")
    func deleteWord() {
        var editor = Self.editor("one two  three  ", "\u{17}")
        #expect(editor.text == "one two  ")
        _ = editor.feed([0x17])
        #expect(editor.text == "one ")
        _ = editor.feed(Array("x\u{2}\u{17}".utf8))
        #expect(editor.text == "x")
        #expect(editor.cursor == 0)
    }

    @Test("Enter as CR or LF submits the line, records it and starts an empty one", arguments: [0x0D, 0x0A] as [UInt8])
    func submit(_ enter: UInt8) {
        var editor = Self.editor("hello")
        #expect(editor.feed([enter]) == [.submit("hello")])
        #expect(editor.text == "")
        #expect(editor.cursor == 0)
        #expect(editor.history == ["hello"])
    }

    @Test("Enter on an empty or blank line submits nothing")
    func blankLine() {
        var editor = LineEditor()
        #expect(editor.feed([0x0D]) == [])
        #expect(editor.feed(Array("  ".utf8)) == [.redraw])
        #expect(editor.feed([0x0D]) == [.redraw])
        #expect(editor.history.isEmpty)
    }

    @Test("one read may hold several lines, and what follows the last Enter stays in the line")
    func severalLines() {
        var editor = LineEditor()
        #expect(editor.feed(Array("one\rtwo\r\nthr".utf8)) == [.submit("one"), .submit("two"), .redraw])
        #expect(editor.text == "thr")
    }

    @Test("Ctrl-C interrupts and clears the line; Ctrl-D ends input only on an empty line")
    func interruptAndEnd() {
        var editor = Self.editor("abc")
        #expect(editor.feed([0x03]) == [.interrupt])
        #expect(editor.text == "")
        _ = editor.feed(Array("ab\u{1}".utf8))
        #expect(editor.feed([0x04]) == [.redraw])
        #expect(editor.text == "b")
        _ = editor.feed([0x04])
        #expect(editor.feed([0x04]) == [.endOfInput])
    }

    @Test("Ctrl-L asks for a redraw without changing the line")
    func redraw() {
        var editor = Self.editor("abc")
        #expect(editor.feed([0x0C]) == [.redraw])
        #expect(editor.text == "abc")
    }

    @Test("Up and Down walk the history and come back to the line being typed")
    func history() {
        var editor = Self.editor("first\r", "second\r", "draft")
        let up = Array("\(Self.escape)[A".utf8)
        let down = Array("\(Self.escape)[B".utf8)
        _ = editor.feed(up)
        #expect(editor.text == "second")
        #expect(editor.cursor == 6)
        _ = editor.feed(up)
        #expect(editor.text == "first")
        #expect(editor.feed(up) == [])
        #expect(editor.text == "first")
        _ = editor.feed(down)
        #expect(editor.text == "second")
        _ = editor.feed(down)
        #expect(editor.text == "draft")
        #expect(editor.feed(down) == [])
        _ = editor.feed(Array("\u{10}".utf8))
        #expect(editor.text == "second")
        _ = editor.feed(Array("\u{E}".utf8))
        #expect(editor.text == "draft")
    }

    @Test("a recalled line submits again without being recorded twice in a row")
    func noConsecutiveDuplicates() {
        var editor = Self.editor("again\r", "\(Self.escape)[A")
        #expect(editor.feed([0x0D]) == [.submit("again")])
        _ = editor.feed(Array("other\ragain\r".utf8))
        #expect(editor.history == ["again", "other", "again"])
    }

    @Test("the history keeps the newest 500 lines")
    func historyLimit() {
        var editor = LineEditor(history: (0..<498).map(String.init))
        _ = editor.feed(Array("a\rb\rc\r".utf8))
        #expect(editor.history.count == 500)
        #expect(editor.history.first == "1")
        #expect(editor.history.last == "c")
        #expect(LineEditor(history: (0..<600).map(String.init)).history.first == "100")
    }

    @Test("escape sequences split across reads are put together", arguments: [1, 2, 3])
    func splitEscape(_ cut: Int) {
        var editor = Self.editor("ab")
        let delete = Array("\(Self.escape)[3~".utf8)
        _ = editor.feed(Array("\(Self.escape)[D".utf8))
        #expect(editor.feed(Array(delete[..<cut])) == [])
        #expect(editor.feed(Array(delete[cut...])) == [.redraw])
        #expect(editor.text == "a")
    }

    @Test("unknown sequences and Alt-modified keys are dropped whole")
    func unknownSequences() {
        let editor = Self.editor("a\(Self.escape)[15~\(Self.escape)[1;5Pb\(Self.escape)xc\(Self.escape)OQd")
        #expect(editor.text == "abcd")
    }

    @Test("modified arrows still move the cursor")
    func modifiedArrows() {
        #expect(Self.editor("abc", "\(Self.escape)[1;5D").cursor == 2)
    }
}

extension LineEditorTests {
    @Test("an escape sequence that never ends is dropped rather than waited for")
    func runawaySequence() {
        let editor = Self.editor("\(Self.escape)[" + String(repeating: "1;", count: 40), "ok")
        #expect(editor.text == "ok")
    }
}
