import Testing
@testable import CaucusTerminal

@Suite("Line editor rendering")
struct LineEditorRenderTests {
    static let clear = "\r\u{1B}[2K"

    static func editor(_ text: String, cursor: Int? = nil) -> LineEditor {
        var editor = LineEditor()
        _ = editor.feed(Array(text.utf8))
        for _ in 0..<(text.count - (cursor ?? text.count)) {
            _ = editor.feed([0x02])
        }
        return editor
    }

    @Test("a short line is drawn whole with the cursor at the end")
    func cursorAtEnd() {
        #expect(Self.editor("hello").render(prompt: "> ", width: 80) == Self.clear + "> hello")
    }

    @Test("the cursor is stepped back to its column")
    func cursorInside() {
        #expect(Self.editor("hello", cursor: 1).render(prompt: "> ", width: 80) == Self.clear + "> hello\u{1B}[4D")
    }

    @Test("an empty line shows the prompt")
    func empty() {
        #expect(LineEditor().render(prompt: "> ", width: 80) == Self.clear + "> ")
    }

    @Test("a long line scrolls so the cursor stays on screen, leaving the last column free")
    func scrolling() {
        let text = String((0..<30).map { Character(UnicodeScalar(UInt8(97 + $0 % 26))) })
        let atEnd = Self.editor(text).render(prompt: "> ", width: 10)
        #expect(atEnd == Self.clear + String(text.suffix(8)))
        let atStart = Self.editor(text, cursor: 0).render(prompt: "> ", width: 10)
        #expect(atStart == Self.clear + "> " + String(text.prefix(7)) + "\u{1B}[7D")
        let middle = Self.editor(text, cursor: 20).render(prompt: "> ", width: 10)
        #expect(middle == Self.clear + String(Array(text)[12..<21]) + "\u{1B}[1D")  // the cursor on "u"
    }

    @Test("wide characters take two columns")
    func wide() {
        let rendering = Self.editor("団結✊x", cursor: 2).render(prompt: "", width: 80)
        #expect(rendering == Self.clear + "団結✊x\u{1B}[3D")
        #expect(Character("✊🏽").terminalColumns == 2)
        #expect(Character("é").terminalColumns == 1)
    }
}
