@testable import CaucusClient
import CaucusCrypto
import Foundation
import Testing

/// The link code and the two link messages (Protocol.md §9.13), without a relay.
@Suite("Device link: code and messages")
struct DeviceLinkTests {
    let identity = Ed25519.PrivateKey(), laptop = Ed25519.PrivateKey(), phone = Ed25519.PrivateKey()

    func code(expiresIn seconds: TimeInterval = 600) -> LinkCode {
        LinkCode(identity: identity.publicKey, device: laptop.publicKey, secret: Random.bytes(32),
                 expiresAt: Date().addingTimeInterval(seconds), relay: "wss://relay.example.org")
    }

    @Test("A code reads back as written; a mistyped, cut or foreign one is refused with a reason")
    func codeText() throws {
        let made = code()
        let text = made.text
        #expect(text.hasPrefix("caucus-link:"))
        #expect(try LinkCode(parsing: "  \(text)\n") == made && !made.hasExpired())
        #expect(code(expiresIn: -1).hasExpired())
        var typo = Array(text)
        typo[40] = typo[40] == "2" ? "3" : "2"
        for (bad, why) in [(String(typo), "checksum"), (String(text.dropLast(10)), ""), ("caucus-invite:abc", "starts with"),
                           (text.replacingOccurrences(of: "caucus-link:", with: "caucus-link:0"), "character")] {
            #expect {
                _ = try LinkCode(parsing: bad)
            } throws: { error in
                "\(error)".contains("not a device link code") && (why.isEmpty || "\(error)".contains(why))
            }
        }
    }

    @Test("The request opens only with the code it was sealed for; the answer only for the device that asked")
    func messages() throws {
        let made = code(), other = code()
        let linkKey = X25519.PrivateKey()
        let proof = phone.signature(for: DeviceEntry.deviceStatement(identity: identity.publicKey, device: phone.publicKey))
        let request = LinkMessage.Request(device: phone.publicKey, proof: proof, linkKey: linkKey.publicKey, name: "phone ✊")
        let sealed = LinkMessage.seal(request, for: made)
        #expect(sealed.first == 0x05)
        #expect(LinkMessage.openRequest(sealed, for: made) == request)
        #expect(LinkMessage.openRequest(sealed, for: other) == nil)
        var flipped = sealed
        flipped[flipped.count - 1] ^= 1
        #expect(LinkMessage.openRequest(flipped, for: made) == nil)

        let contents = Array("the identity and what it knows".utf8)
        let answer = try LinkMessage.sealAnswer(contents, to: request, for: made)
        #expect(answer.first == 0x06)
        #expect(LinkMessage.openAnswer(answer, linkKey: linkKey, device: phone.publicKey, for: made) == contents)
        #expect(LinkMessage.openAnswer(answer, linkKey: X25519.PrivateKey(), device: phone.publicKey, for: made) == nil)
        #expect(LinkMessage.openAnswer(answer, linkKey: linkKey, device: laptop.publicKey, for: made) == nil)
        #expect(LinkMessage.openAnswer(answer, linkKey: linkKey, device: phone.publicKey, for: other) == nil)
    }
}
