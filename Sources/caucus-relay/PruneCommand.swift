import ArgumentParser
import CaucusRelay
import Foundation

/// `caucus-relay prune`: removes now what has expired, and the card inboxes of campaigns the
/// operator closes.
struct PruneCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prune",
        abstract: "Removes expired messages and blobs now, and deletes the card inboxes named with --card-inbox.",
        discussion: """
            Expired messages and blobs go as the relay's own sweep (every minute) removes them. Each \
            --card-inbox deletes that card inbox with every item in it, for a campaign that is closed; \
            the inboxes go together in one transaction, and if one of them does not exist (no card was \
            ever posted to it, or it was deleted already) the command names it and deletes none. A \
            client that posts to a deleted inbox again makes it anew. Safe while the relay runs; it \
            asks no confirmation and prints what it removed.
            """)

    /// The daemon, whose --data-dir and --store the parser may have given these options to.
    @ParentCommand var daemon: CaucusRelayCommand

    @OptionGroup var location: AdminStoreOptions

    @Option(name: .customLong("card-inbox"),
            help: ArgumentHelp("A card inbox to delete, by its inbox key in hex (64 digits); repeatable.", valueName: "id"))
    var cardInboxes: [String] = []

    @Flag(help: "Print one JSON object instead of text.")
    var json = false

    /// What `--json` prints.
    struct Report: Encodable {
        struct Inbox: Encodable {
            let id: String
            let items: Int
        }
        let expiredMessages: Int
        let expiredDeliveries: Int
        let expiredBlobs: Int
        let deletedCardInboxes: [Inbox]
    }

    func run() async throws {
        var keys: [Data] = []
        for text in cardInboxes {
            do { keys.append(try OperatorKeyText.cardInbox(text)) } catch {
                throw failing(error.description)
            }
        }
        keys = StoreRules.unique(keys)
        try await location.withStore(daemon: daemon) { opened in
            // The inboxes first: when one is missing, nothing at all is changed.
            let items = keys.isEmpty ? [] : try await opened.store.deleteCardInboxes(keys)
            let expired = try await opened.store.expire(now: Int64(Date().timeIntervalSince1970 * 1000))
            let report = Report(
                expiredMessages: expired.messages, expiredDeliveries: expired.deliveries, expiredBlobs: expired.blobs,
                deletedCardInboxes: zip(keys, items).map { Report.Inbox(id: OperatorKeyText.hex($0), items: $1) })
            if json { return try printJSON(report) }
            print("expired: \(expired.messages) messages (\(expired.deliveries) undelivered deliveries), \(expired.blobs) blobs")
            for inbox in report.deletedCardInboxes {
                print("deleted card inbox \(inbox.id) with its \(inbox.items) items")
            }
        }
    }
}
