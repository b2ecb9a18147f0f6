import CaucusText
import Testing

@Suite("The terminal sanitiser")
struct TerminalTextTests {
    @Test("the forged-line name of issue 16 shows every escape, and no byte a terminal acts on")
    func forgedLine() {
        let name = "Tom\u{1B}[2K\u{1B}[1G02:20 Rosa: strike vote cancelled\u{1B}[8m"
        let shown = TerminalText.visible(name)
        #expect(shown == "Tom<U+001B>[2K<U+001B>[1G02:20 Rosa: strike vote cancelled<U+001B>[8m")
        #expect(!shown.unicodeScalars.contains { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) })
    }

    @Test("C0, DEL and C1 controls, and every line break, are escaped on one line; a tab is a space")
    func controls() {
        #expect(TerminalText.visible("a\u{0}b\u{7}c\u{8}d\u{7F}e\u{85}f\u{9B}g") == "a<U+0000>b<U+0007>c<U+0008>d<U+007F>e<U+0085>f<U+009B>g")
        #expect(TerminalText.visible("one\ntwo\r\nthree\rfour\u{B}\u{C}\u{2028}\u{2029}") ==
            "one<U+000A>two<U+000D><U+000A>three<U+000D>four<U+000B><U+000C><U+2028><U+2029>")
        #expect(TerminalText.visible("a\tb") == "a b")
        #expect(TerminalText.visible("\u{1B}]0;pwned\u{7}") == "<U+001B>]0;pwned<U+0007>")
    }

    @Test("bidirectional overrides, isolates and marks are escaped")
    func bidi() {
        for value: UInt32 in [0x202A, 0x202B, 0x202C, 0x202D, 0x202E, 0x2066, 0x2067, 0x2068, 0x2069, 0x200E, 0x200F, 0x061C] {
            let scalar = Unicode.Scalar(value)!
            #expect(TerminalText.visible("x\(scalar)y") == "x" + TerminalText.escape(scalar) + "y")
            #expect(TerminalText.isHidden(scalar))
        }
        #expect(TerminalText.visible("invoice\u{202E}fdp.exe") == "invoice<U+202E>fdp.exe")
    }

    @Test("zero-width, format, tag, filler, private-use and unassigned code points are escaped")
    func invisible() {
        let cases: [(String, String)] = [
            ("Ro\u{200B}sa", "Ro<U+200B>sa"), ("Ro\u{200C}sa", "Ro<U+200C>sa"), ("Ro\u{200D}sa", "Ro<U+200D>sa"),
            ("\u{FEFF}Rosa", "<U+FEFF>Rosa"), ("Ro\u{2060}sa\u{2064}", "Ro<U+2060>sa<U+2064>"), ("a\u{180E}b", "a<U+180E>b"),
            ("a\u{AD}b", "a<U+00AD>b"), ("hi\u{E0041}\u{E007F}", "hi<U+E0041><U+E007F>"), ("\u{3164}", "<U+3164>"),
            ("\u{115F}x", "<U+115F>x"), ("a\u{E000}b", "a<U+E000>b"), ("a\u{10FFFF}b", "a<U+10FFFF>b"), ("a\u{FFFE}b", "a<U+FFFE>b"),
        ]
        for (text, shown) in cases { #expect(TerminalText.visible(text) == shown, "\(shown)") }
    }

    @Test("a mark or variation selector with nothing to attach to is escaped; attached, it is kept")
    func marks() {
        #expect(TerminalText.visible("\u{301}Rosa") == "<U+0301>Rosa")
        #expect(TerminalText.visible("\u{FE0F}") == "<U+FE0F>")
        #expect(TerminalText.visible("Jose\u{301}") == "Jose\u{301}")
        #expect(TerminalText.visible("\u{2764}\u{FE0F}") == "\u{2764}\u{FE0F}")
        #expect(TerminalText.visible("\u{1B}\u{301}") == "<U+001B><U+0301>")
    }

    @Test("emoji joined with ZWJ stay whole; a joiner between letters does not")
    func emoji() {
        for text in ["👩‍👩‍👧", "👁️‍🗨️", "🏃🏽‍♀️", "✊🏽", "👩‍💻"] { #expect(TerminalText.visible(text) == text) }
        #expect(TerminalText.visible("a\u{200D}b") == "a<U+200D>b")
    }

    @Test("ordinary text in any script is left as it is, and showing is idempotent")
    func ordinary() {
        for text in ["Rosa", "Amira Haddad", "Tomasz Wójcik", "Мара", "ローザ", "أميرة", "עמית", "नमस्ते", "Nguyễn", "[x] <y> \\u{1B}"] {
            #expect(TerminalText.visible(text) == text)
            #expect(TerminalText.visible(TerminalText.visible(text + "\u{1B}")) == TerminalText.visible(text + "\u{1B}"))
        }
    }

    @Test("a caller may reserve scalars of its own, which are then escaped in what others wrote")
    func reserved() {
        #expect(TerminalText.visible("Rosa ✓", alsoEscaping: { $0 == "✓" }) == "Rosa <U+2713>")
    }

    @Test("lines split at LF and CR LF only, each made visible, trailing empty lines dropped")
    func lines() {
        #expect(TerminalText.lines("one\ntwo\r\nthree\rx\u{1B}\n\n") == ["one", "two", "three<U+000D>x<U+001B>"])
        #expect(TerminalText.lines("") == [""])
    }

    @Test("interpolated values are shown visibly; the program's own words are kept; blocks indent later lines")
    func terminalLine() {
        let name = "Tom\u{1B}[2K"
        let line: TerminalLine = "\u{1B}[1m kept, \(name), \(42)"
        #expect(line.text == "\u{1B}[1m kept, Tom<U+001B>[2K, 42")
        let head: TerminalLine = "[G] 02:20 \(name): "
        let block = TerminalLine.block(head, "first\n[G] 02:21 Rosa: strike vote cancelled\u{1B}[8m")
        #expect(block.text == "[G] 02:20 Tom<U+001B>[2K: first\n" + String(repeating: " ", count: 26) + "[G] 02:21 Rosa: strike vote cancelled<U+001B>[8m")
        #expect(!block.text.split(separator: "\n").dropFirst().contains { $0.hasPrefix("[") })
    }
}
