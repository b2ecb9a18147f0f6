@testable import CaucusClient
@testable import CaucusClientStore
import CaucusCrypto
import Testing

/// Whom a typed name means, and who is marked how (Protocol.md §9.5), without a relay.
@Suite("People: marks, look-alike names and addressing")
struct PeopleTests {
    let me = Ed25519.PrivateKey().publicKey
    let rosa = Ed25519.PrivateKey().publicKey, fakeRosa = Ed25519.PrivateKey().publicKey
    let mara = Ed25519.PrivateKey().publicKey, fakeMara = Ed25519.PrivateKey().publicKey
    let tomasz = Ed25519.PrivateKey().publicKey

    func people(rosaVerified: Bool = true) -> People {
        People(me: me, myName: "Amira", contacts: [
            (rosa, ContactRecord(did: DID(publicKey: rosa).description, name: "Rosa", verified: rosaVerified)),
            (fakeRosa, ContactRecord(did: DID(publicKey: fakeRosa).description, name: "rosa ")),
            (mara, ContactRecord(did: DID(publicKey: mara).description, name: "Mara", verified: true)),
            (fakeMara, ContactRecord(did: DID(publicKey: fakeMara).description, name: "M\u{430}ra")),
            (tomasz, ContactRecord(did: DID(publicKey: tomasz).description, name: "Tomasz")),
        ])
    }

    var everyone: [Ed25519.PublicKey] { [rosa, fakeRosa, mara, fakeMara, tomasz] }

    @Test("a verified contact is chosen by name over unverified namesakes and look-alikes")
    func verifiedWins() throws {
        #expect(try people().pick("Rosa", among: everyone) == rosa)
        #expect(try people().pick("ROSA", among: everyone) == rosa)
        #expect(try people().pick("Mara", among: everyone) == mara)
        #expect(try people().pick("M\u{430}ra", among: everyone) == mara)
        #expect(try people().pick("tomasz", among: everyone) == tomasz)
        #expect(try people().pick("Nobody", among: everyone) == nil)
    }

    @Test("among unverified namesakes a name is refused, listing each by DID fragment")
    func ambiguous() {
        let short = [DID(publicKey: rosa).short, DID(publicKey: fakeRosa).short]
        #expect {
            try people(rosaVerified: false).pick("Rosa", among: everyone)
        } throws: { error in
            guard case let ClientError.ambiguousTarget(target, candidates) = error else { return false }
            return target == "Rosa" && candidates.count == 2 && short.allSatisfy { fragment in candidates.contains { $0.hasSuffix("(\(fragment))") } }
        }
    }

    @Test("a DID fragment names one person: the short form with … or ..., or 8 or more characters of the identifier")
    func fragments() throws {
        let did = DID(publicKey: fakeRosa)
        let people = people()
        #expect(try people.pick(did.short, among: everyone) == fakeRosa)
        #expect(try people.pick(did.short.replacingOccurrences(of: "…", with: "..."), among: everyone) == fakeRosa)
        #expect(try people.pick(String(did.identifier.prefix(12)), among: everyone) == fakeRosa)
        #expect(try people.pick("did:key:" + did.identifier.prefix(12), among: everyone) == fakeRosa)
        #expect(try people.pick(String(did.identifier.prefix(5)), among: everyone) == nil)
    }

    @Test("look-alikes are everyone else with the same or a look-alike name, the user included; marks follow")
    func marks() {
        var people = people()
        #expect(people.view(fakeRosa).lookalikes == [DID(publicKey: rosa)])
        #expect(people.view(tomasz).lookalikes.isEmpty)
        #expect(people.view(fakeRosa).label.text == "rosa  (⚠ look-alike name, \(DID(publicKey: fakeRosa).short))")
        #expect(people.view(rosa).label.text == "Rosa ✓ (\(DID(publicKey: rosa).short))")
        #expect(people.view(tomasz).label.text == "Tomasz")
        let amira = Ed25519.PrivateKey().publicKey
        people.set(amira, name: "Am\u{456}ra", verified: false)
        #expect(people.view(amira).lookalikes == [DID(publicKey: me)])
        people.set(amira, name: "Ana", verified: false)
        #expect(people.view(amira).lookalikes.isEmpty && people.view(me).lookalikes.isEmpty)
    }

    @Test("a name cannot carry a mark or end early: marks and colons inside it are shown escaped")
    func reservedInNames() {
        #expect(PersonView.shown("Rosa ✓").text == "Rosa <U+2713>")
        #expect(PersonView.shown("Rosa: strike off").text == "Rosa<U+003A> strike off")
        #expect(PersonView.shown("Rosa\u{FF1A} x ⚠").text == "Rosa<U+FF1A> x <U+26A0>")
    }
}
