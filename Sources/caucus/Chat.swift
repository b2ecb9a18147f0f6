import ArgumentParser
import CaucusClient
import CaucusProtocol
import CaucusTerminal
import CaucusText
import Foundation

struct Chat: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Chat in a group or with one person, live.",
        discussion: """
            Type a line and press Enter to send it. Messages arrive while you type. Commands:
              /members          who is in the group
              /invite           a one-time invite to the group (admins)
              /file PATH        send a file
              /verify NAME      show the safety number with someone (/verify NAME confirm marks them verified)
              /expire 1d        make new messages disappear after a day (/expire off to stop)
              /quit             leave (Ctrl-C and Ctrl-D too)
            """)
    @OptionGroup var global: GlobalOptions
    @Argument(help: "A group name, a member's display name, or a DID.") var target: String

    func run() async throws {
        let account = try await global.open()
        let conversation = try await account.resolve(target)
        let title = try await account.name(of: conversation)
        _ = try? await account.sync()
        let history = try await account.history(conversation, limit: 50).map(\.chatLine)
        let (events, continuation) = AsyncStream<ChatScreenEvent>.makeStream()
        await account.observe { event in
            switch event {
            case .message(let view) where view.conversation == conversation:
                continuation.yield(.line(view.chatLine))
            case .message(let view):
                continuation.yield(.line(ChatLine(time: Date(), sender: "", text: "new message in \(view.conversationLabel)", kind: .notice)))
            case .connection(let status):
                continuation.yield(.status(status))
            }
        }
        let live = Task { await account.stayConnected() }
        let commands = ChatCommands(account: account, conversation: conversation, title: title)
        let screen = ChatScreen(title: try await account.peer(of: conversation)?.label.text ?? title)
        await screen.run(history: history, events: events) { line in await commands.handle(line) }
        live.cancel()
        continuation.finish()
        await account.close()
    }
}

/// What the chat screen does with a typed line.
struct ChatCommands: Sendable {
    let account: Account
    let conversation: Conversation
    let title: String

    func handle(_ line: String) async -> [ChatLine] {
        let trimmed = line.trimmingCharacters(in: .whitespaces)
        guard !trimmed.isEmpty else { return [] }
        do {
            guard trimmed.hasPrefix("/") else {
                switch try await account.send(trimmed, to: conversation) {
                case .sent: return []
                case .queued(let why): return [notice("queued, encrypted (\(why)); it will be sent when the relay is back")]
                case .refused(let why): return [warning("not sent: the relay refused it (\(why))")]
                }
            }
            let parts = trimmed.split(separator: " ", maxSplits: 1).map(String.init)
            let argument = parts.count > 1 ? parts[1].trimmingCharacters(in: .whitespaces) : ""
            switch parts[0] {
            case "/members":
                return try await account.members(of: title).map { member in
                    let label: TerminalLine = member.isMe ? member.name.map(PersonView.shown) ?? "you" : member.person.label
                    return notice("\(label)  \(member.did.short)\(member.isAdmin ? "  admin" : "")\(member.isMe || member.verified ? "" : "  not verified")")
                }
            case "/invite":
                return [notice("one-time invite to \(title): \(try await account.createInvite(group: title).text)")]
            case "/file":
                guard !argument.isEmpty else { return [warning("usage: /file PATH")] }
                let info = try await account.sendFile(at: (argument as NSString).expandingTildeInPath, to: conversation)
                return [notice("sent \(info.name) (\(ByteCountText.describe(info.size)))")]
            case "/verify":
                let words = argument.split(separator: " ").map(String.init)
                guard let who = words.first else { return [warning("usage: /verify NAME [confirm]")] }
                if words.count > 1, words[1] == "confirm" { try await account.setVerified(who, true) }
                let result = try await account.verification(of: who)
                return [notice("safety number with \(result.person.label): \(result.safetyNumber)"),
                        notice(result.verified ? "verified" : "not verified: compare in person, then /verify \(who) confirm")]
            case "/expire":
                guard let seconds = DurationText.seconds(argument) else { return [warning("usage: /expire 1d (or 30m, 12h, 1w, off)")] }
                if case .refused(let why) = try await account.setExpiry(seconds, for: conversation) {
                    return [warning("the timer was not changed for the others: the relay refused it (\(why))")]
                }
                return []
            case "/help":
                return ["/members", "/invite", "/file PATH", "/verify NAME [confirm]", "/expire 1d|off", "/quit"].map { notice("\($0)") }
            default:
                return [warning("unknown command \(parts[0]); /help lists them")]
            }
        } catch {
            return [warning("\(error)")]
        }
    }

    private func notice(_ text: TerminalLine) -> ChatLine { ChatLine(time: Date(), sender: "", text: text.text, kind: .notice) }
    private func warning(_ text: TerminalLine) -> ChatLine { ChatLine(time: Date(), sender: "", text: text.text, kind: .warning) }
}

extension MessageView {
    /// The line the chat screen shows.
    var chatLine: ChatLine {
        let time = Date(timeIntervalSince1970: Double(message.sentAt) / 1000)
        switch message.kind {
        case .text, .file:
            return ChatLine(time: time, sender: senderLabel.text, text: message.text, kind: message.outgoing ? .outgoing : .incoming)
        case .notice: return ChatLine(time: time, sender: "", text: message.text, kind: .notice)
        case .warning: return ChatLine(time: time, sender: "", text: message.text, kind: .warning)
        }
    }
}
