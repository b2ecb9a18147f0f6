import Foundation
import Testing
@testable import CaucusCrypto

@Suite("Paper keys and recovery phrases (Protocol.md §2.3)")
struct PaperKeyTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    func secret(_ key: PaperKey) -> [UInt8] { key.secret.withUnsafeBytes { Array($0) } }

    @Test("a phrase reads back to the same secret and key, however it is typed")
    func roundTrip() throws {
        for round in 0..<50 {
            let key = PaperKey()
            #expect(key.words.count == 12)
            let read = try PaperKey(phrase: key.phrase)
            #expect(secret(read) == secret(key) && read.signingKey.publicKey == key.signingKey.publicKey)
            // Upper case, hyphens or extra white space, and each word cut to its first 4 letters or more.
            let typed = key.words.enumerated().map { index, word in String(word.prefix(4 + index % 2)).uppercased() }
            let separator = round % 2 == 0 ? "-" : " \n "
            #expect(try secret(PaperKey(phrase: "  " + typed.joined(separator: separator) + " ")) == secret(key))
        }
    }

    @Test("a wrong phrase is refused with what is wrong: the count, an unknown word and where, words that do not fit")
    func refusals() throws {
        let key = try PaperKey(secret: SecureBytes(copying: [UInt8](0x00..<0x10)))
        var words = key.words
        #expect(throws: PaperKeyError.wordCount(11)) { try PaperKey(phrase: words.dropLast().joined(separator: " ")) }
        #expect(throws: PaperKeyError.unknownWord(position: 3, "banana")) {
            try PaperKey(phrase: (words[0..<2] + ["banana"] + words[3...]).joined(separator: " "))
        }
        #expect(throws: PaperKeyError.unknownWord(position: 1, "abo")) { try PaperKey(phrase: (["abo"] + words.dropFirst()).joined(separator: " ")) }
        // Two words swapped (they differ) no longer fit the checksum.
        #expect(words[0] != words[1])
        words.swapAt(0, 1)
        #expect(throws: PaperKeyError.checksum) { try PaperKey(phrase: words.joined(separator: " ")) }
        #expect(throws: PaperKeyError.wrongLength) { try PaperKey(secret: SecureBytes(copying: [1, 2, 3])) }
    }

    @Test("the word list is vectors/paper-words.txt: 2,048 words, no two sharing their first 4 letters")
    func wordList() throws {
        let file = try String(contentsOf: Self.repository.appendingPathComponent("vectors/paper-words.txt"), encoding: .utf8)
        #expect(file.split(separator: "\n").map(String.init) == paperWords)
        #expect(Set(paperWords.map { $0.prefix(4) }).count == 2048)
        #expect(paperWords.allSatisfy { (4...7).contains($0.count) && $0.allSatisfy { ("a"..."z").contains($0) } })
    }
}
