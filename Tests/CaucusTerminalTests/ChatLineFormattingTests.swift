import Foundation
import Testing
import CaucusTerminal

@Suite("Chat line formatting")
struct ChatLineFormattingTests {
    static let utc = TimeZone(identifier: "UTC")!
    static let afternoon = Date(timeIntervalSince1970: 13 * 3600 + 7 * 60 + 59)

    @Test("messages read \"HH:mm sender: text\" in the given time zone")
    func messages() {
        let incoming = ChatLine(time: Self.afternoon, sender: "alice", text: "strike vote at 6", kind: .incoming)
        #expect(incoming.formatted(colour: false, timeZone: Self.utc) == "13:07 alice: strike vote at 6")
        let outgoing = ChatLine(time: Self.afternoon, sender: "you", text: "I'll be there", kind: .outgoing)
        #expect(outgoing.formatted(colour: true, timeZone: Self.utc) == "13:07 you: I'll be there")
        #expect(incoming.formatted(colour: false, timeZone: TimeZone(secondsFromGMT: -5 * 3600)!) == "08:07 alice: strike vote at 6")
    }

    @Test("notices and warnings are marked, and only warnings are coloured, only when asked")
    func noticesAndWarnings() {
        let notice = ChatLine(time: Self.afternoon, text: "alice joined", kind: .notice)
        #expect(notice.formatted(colour: true, timeZone: Self.utc) == "13:07 * alice joined")
        let warning = ChatLine(time: Self.afternoon, text: "safety number changed", kind: .warning)
        #expect(warning.formatted(colour: false, timeZone: Self.utc) == "13:07 !! safety number changed")
        #expect(warning.formatted(colour: true, timeZone: Self.utc) == "\u{1B}[1;33m13:07 !! safety number changed\u{1B}[0m")
    }

    @Test("later lines of a message are indented under its text, trailing newlines dropped")
    func multiLine() {
        let line = ChatLine(time: Self.afternoon, sender: "bo", text: "one\ntwo\r\n\nfour\n\n", kind: .incoming)
        #expect(line.formatted(colour: false, timeZone: Self.utc) == "13:07 bo: one\n          two\n          \n          four")
        let notice = ChatLine(time: Self.afternoon, text: "a\nb", kind: .notice)
        #expect(notice.formatted(colour: false, timeZone: Self.utc) == "13:07 * a\n        b")
    }

    @Test("escape sequences, control characters and bidirectional overrides from others are shown escaped, never interpreted")
    func hostileText() {
        let line = ChatLine(time: Self.afternoon, sender: "m\u{1B}[2Jallory", text: "hi\u{1B}]0;pwned\u{7}\tthere\u{9B}1m \u{202E}txt.exe", kind: .incoming)
        #expect(line.formatted(colour: false, timeZone: Self.utc)
            == "13:07 m<U+001B>[2Jallory: hi<U+001B>]0;pwned<U+0007> there<U+009B>1m <U+202E>txt.exe")
    }

    @Test("a line break in a sender's name is shown escaped, not started")
    func senderOnOneLine() {
        let line = ChatLine(time: Self.afternoon, sender: "Tom\n13:08 Rosa", text: "hi", kind: .incoming)
        #expect(line.formatted(colour: false, timeZone: Self.utc) == "13:07 Tom<U+000A>13:08 Rosa: hi")
    }

    @Test("emoji sequences joined with ZWJ are kept")
    func emoji() {
        let line = ChatLine(time: Self.afternoon, sender: "a", text: "👩‍👩‍👧 ✊🏽", kind: .incoming)
        #expect(line.formatted(colour: false, timeZone: Self.utc) == "13:07 a: 👩‍👩‍👧 ✊🏽")
    }
}
