import CaucusCrypto
import Testing

@Suite("Cards: revocation receipts")
struct RevocationReceiptTests {
    @Test func aReceiptAcknowledgesExactlyOneRevocation() throws {
        let cardKey = Ed25519.PrivateKey(), worker = Ed25519.PrivateKey()
        let campaign = try CardTests.campaign(cardKey: cardKey)
        let card = try Card.sign(CardTests.fields("Rosa"), for: campaign, by: worker, at: CardTests.now)
        let revocation = CardRevocation.sign(revoking: card, by: worker, at: CardTests.now + 5)
        let receipt = RevocationReceipt.sign(for: revocation, cardKey: cardKey, at: CardTests.now + 10)
        let decoded = try RevocationReceipt(encoded: receipt.encoded())
        #expect(decoded == receipt && decoded.confirms(revocation, of: campaign))
        #expect(receipt.encoded().count == 1 + 32 + 32 + 32 + 8 + 8 + 64)

        // Not a later revocation of the same card, not from another key, not with a bit changed.
        #expect(!receipt.confirms(CardRevocation.sign(revoking: card, by: worker, at: CardTests.now + 6), of: campaign))
        #expect(!RevocationReceipt.sign(for: revocation, cardKey: Ed25519.PrivateKey(), at: CardTests.now).confirms(revocation, of: campaign))
        for index in [1, 40, 80, 100, 110, 130] {
            var bytes = receipt.encoded()
            bytes[index] ^= 1
            #expect(try !RevocationReceipt(encoded: bytes).confirms(revocation, of: campaign), "byte \(index)")
        }
        // A card receipt is not a revocation receipt, and trailing bytes are refused.
        #expect(throws: CardError.malformed("not a revocation receipt")) {
            try RevocationReceipt(encoded: CardReceipt.sign(for: card, cardKey: cardKey, at: 1).encoded())
        }
        #expect(throws: CardError.self) { try RevocationReceipt(encoded: receipt.encoded() + [0]) }
    }

    @Test func theTallyListsTheWithdrawalsThatTookEffect() throws {
        let cardKey = Ed25519.PrivateKey()
        let campaign = try CardTests.campaign(cardKey: cardKey)
        let rosa = Ed25519.PrivateKey(), tomasz = Ed25519.PrivateKey()
        let rosaCard = try Card.sign(CardTests.fields("Rosa"), for: campaign, by: rosa, at: CardTests.now)
        let tomaszCard = try Card.sign(CardTests.fields("Tomasz"), for: campaign, by: tomasz, at: CardTests.now)
        let first = CardRevocation.sign(revoking: rosaCard, by: rosa, at: CardTests.now + 1)
        let again = CardRevocation.sign(revoking: rosaCard, by: rosa, at: CardTests.now + 2)
        let forged = CardRevocation.sign(revoking: tomaszCard, by: rosa, at: CardTests.now + 3)
        let items: [CardItem] = [.card(rosaCard), .card(tomaszCard), .revocation(first), .revocation(again), .revocation(forged)]
        let tally = CardTally(campaign: campaign, items: items.map { .success($0) }, now: CardTests.now + 10)
        #expect(tally.withdrawals == [first])
        #expect(tally.valid == [tomaszCard])
        #expect(tally.rejected.map(\.reason) == [.revoked, .revocationBySomeoneElse])
    }
}
