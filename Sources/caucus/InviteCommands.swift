import ArgumentParser
import CaucusClient
import CaucusTerminal
import CaucusText
import Foundation

struct InviteCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "invite", abstract: "Invite someone into a group.", subcommands: [Create.self, List.self, Withdraw.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a one-time invite code (and its QR code) for a group (admins).",
            discussion: """
                Give the code to one person, in person or over a channel you trust: whoever holds it can join. \
                It works once and expires. Your caucus admits the person the next time it runs (any command, \
                or `caucus chat`).
                """)
        @OptionGroup var global: GlobalOptions
        @OptionGroup var output: OutputOptions
        @Argument(help: "The group.") var group: String
        @Option(name: .long, help: ArgumentHelp("How long the invite lasts (30m, 12h, 7d…).", valueName: "duration"))
        var expires: String = "7d"
        @Flag(name: .long, help: "Do not draw the QR code.") var noQR = false

        func run() async throws {
            let lifetime = try parseDuration(expires, what: "--expires")
            guard lifetime > 0 else { throw ValidationError("--expires must be longer than 0") }
            try await withAccount(global) { account in
                let code = try await account.createInvite(group: group, lifetime: lifetime)
                if output.json {
                    printJSON(["code": code.text, "group": group, "expires_in_seconds": lifetime])
                    return
                }
                say("One-time invite to \(group), valid for \(expires):\n\n\(code.text)\n")
                if !noQR, let qr = try? QRCode(code.text) {
                    CommandOutput.write(qr.terminalRendering())
                }
                say("They run: caucus join \(code.text)")
                say("(`caucus invite withdraw \(code.shortID)` takes it back while it is unused.)")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the invites you made: open, used or expired.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            try await withAccount(global) { account in
                let invites = try await account.invites()
                if output.json {
                    printJSON(invites.map(\.json))
                } else if invites.isEmpty {
                    say("No invites.")
                } else {
                    for invite in invites {
                        let open = "open until \(invite.expiresAt.formatted(date: .abbreviated, time: .shortened))"
                        let state: TerminalLine = invite.used ? invite.usedBy.map { "used by \($0.label)" } ?? "used" : invite.expired ? "expired" : "\(open)"
                        say("\(invite.shortID)  \(invite.groupName)  \(state)")
                    }
                }
            }
        }
    }

    struct Withdraw: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Take back an unused invite: whoever holds its code is refused.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The invite's id, from `caucus invite list`.") var id: String

        func run() async throws {
            try await withAccount(global) { account in
                try await account.withdrawInvite(id)
                say("Invite \(id) withdrawn; anyone who tries it is told so.")
            }
        }
    }
}

struct Join: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Join a group with a one-time invite code.",
        discussion: "Run `caucus init` first. The inviter's caucus admits you when it next runs; this waits for it a while.")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var output: OutputOptions
    @Argument(help: "The invite code (caucus-invite:…).") var code: String
    @Option(name: .long, help: "Seconds to wait for the inviter's answer.") var wait: Int = 30

    func run() async throws {
        let invite = try InviteCode(parsing: code)
        try await withAccount(global) { account in
            let outcome = try await account.join(invite, wait: .seconds(max(0, wait))) { progress in
                switch progress {
                case let .asked(inviter, relay, queued):
                    Console.tell(queued
                        ? "Your request to join is kept here for the inviter (\(inviter)); it goes out when \(relay) can be reached."
                        : "Asked the inviter (\(inviter)) through \(relay) to let you in; waiting for their caucus to answer (it answers when it runs).")
                case let .waiting(waited, limit):
                    Console.tell("Still waiting for the inviter: \(waited.components.seconds) s of \(limit.components.seconds) s.")
                }
            }
            switch outcome {
            case .joined(let name):
                if output.json { printJSON(["joined": true, "group": name]) } else {
                    say("You joined \(name). Say hello: caucus chat \"\(name)\"")
                }
            case .pending:
                if output.json { printJSON(["joined": false, "pending": true]) } else {
                    say("Your request is with the inviter; their caucus admits you when it next runs. Check with `caucus read`.")
                }
            }
        }
    }
}
