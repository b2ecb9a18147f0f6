import CaucusClientStore
import CaucusCrypto
import CaucusRelayClient
import Foundation

/// Posting cards and revocations so that, on the wire, signing looks like any other session with
/// the relay (Protocol.md §9.16): every connection the account makes has a companion connection
/// under a throwaway key, open as long as it is, which makes exactly one request before it
/// closes: the posts that wait, or else a ping.
extension Account {
    /// The bytes a companion pings with when it posted nothing: padded (§7.1), the ping and its
    /// pong are of the size class of an ordinary card's post and its reply.
    static let companionPingBytes = 1_024

    /// Keeps `item` to be posted and posts it on the companion of the open connection (making
    /// one, as `connected` does, if there is none). Throws `cardNotPosted` when the relay has not
    /// taken it; it is kept, and a later connection's companion posts it.
    func sendCardItem(_ item: CardItem, for campaign: Campaign) async throws(ClientError) {
        let sealed: [UInt8]
        do { sealed = try item.sealed(for: campaign) } catch { throw ClientError.invalidArgument("\(error)") }
        let post = CardPost(inboxKey: campaign.cardKey.rawRepresentation, itemID: Random.bytes(16), sealed: sealed)
        try write { tx in try tx.addMyCard(item, post: post, campaign: campaign, at: ClientStore.now()) }
        do {
            _ = try await connected()
        } catch {
            throw ClientError.cardNotPosted(error.description)
        }
        await onCompanion { account in await account.postOnCompanion() }
        if try read({ tx in try tx.waitingCardPosts().contains { $0.itemID == post.itemID } }) {
            throw ClientError.cardNotPosted(companionFailure ?? "the relay did not answer")
        }
    }

    /// Called by `connect` with each new connection: ends the companion of the one before and
    /// opens this one's, which posts at once what waits from earlier.
    func startCompanion() {
        onCompanionLater { account in
            await account.finishCompanion()
            await account.openCompanion()
        }
    }

    /// Called by `close`: the companion makes its one request if it has not, and closes.
    func closeCompanion() async {
        await onCompanion { account in await account.finishCompanion() }
    }

    /// Runs `step` after every companion step already asked for, and waits for it.
    private func onCompanion(_ step: @escaping @Sendable (Account) async -> Void) async {
        onCompanionLater(step)
        await companion?.value
    }

    /// Runs `step` after every companion step already asked for.
    private func onCompanionLater(_ step: @escaping @Sendable (Account) async -> Void) {
        let previous = companion
        companion = Task {
            await previous?.value
            await step(self)
        }
    }

    /// Opens a connection authenticated with a fresh random device key, which the relay cannot
    /// link to this identity, and posts on it what waits.
    private func openCompanion() async {
        companionFailure = nil
        if let stale = companionClient { await stale.close() }
        do {
            companionClient = try await dial(as: Ed25519.PrivateKey())
        } catch {
            companionFailure = Self.reason(error)
            return
        }
        companionUsed = false
        await postWaiting()
    }

    /// Posts what waits on the open companion; one the relay closed (it restarted, say) is opened
    /// again, which posts it.
    private func postOnCompanion() async {
        if companionClient?.isOpen == true { await postWaiting() } else { await openCompanion() }
    }

    /// Posts every card and revocation that waits, oldest first, on the open companion, marking
    /// each posted once the relay took it (a duplicate counts: the relay holds it). Nothing when
    /// none waits.
    private func postWaiting() async {
        let waiting: [CardPost]
        do { waiting = try read { tx in try tx.waitingCardPosts() } } catch {
            companionFailure = error.description
            return
        }
        guard !waiting.isEmpty else { return }
        guard let client = companionClient, client.isOpen else {
            companionFailure = companionFailure ?? "the connection for card posts closed"
            return
        }
        companionUsed = true
        do {
            for post in waiting {
                try await retrying {
                    try await client.postCard(inboxKey: Data(post.inboxKey), itemID: Data(post.itemID), sealed: Data(post.sealed))
                }
                try write { tx in try tx.cardPosted(itemID: post.itemID) }
            }
            companionFailure = nil
        } catch {
            companionFailure = Self.reason(error)
        }
    }

    /// Pings on the companion if it made no request, then closes it.
    private func finishCompanion() async {
        guard let client = companionClient else { return }
        companionClient = nil
        if !companionUsed, client.isOpen {
            // Bounded by the request timeout the companion was dialled with.
            _ = try? await client.ping(Data(count: Self.companionPingBytes))
        }
        await client.close()
    }
}
