import ArgumentParser
import CaucusClient
import CaucusCrypto
import CaucusText
import Foundation

struct GroupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "group", abstract: "Create and run groups.",
        subcommands: [Create.self, List.self, Members.self, Remove.self, Promote.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a group with you as its admin.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var output: OutputOptions
        @Argument(help: "The group's name (only its members see it).") var name: String

        func run() async throws {
            try await withAccount(global) { account in
                let group = try await account.createGroup(name: name)
                if output.json { printJSON(["name": group.name, "id": Hex.encode(group.id.bytes)]) } else {
                    say("Created \(group.name). Invite people with `caucus invite create \"\(group.name)\"`.")
                }
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List your groups.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var output: OutputOptions
        @OptionGroup var syncing: SyncOption

        func run() async throws {
            try await withAccount(global) { account in
                await syncing.apply(account)
                let groups = try await account.groups()
                if output.json {
                    printJSON(groups.map(\.json))
                } else if groups.isEmpty {
                    say("No groups yet: `caucus join CODE` or `caucus group create NAME`.")
                } else {
                    for group in groups {
                        say("\(group.name)  \(group.members) member(s)\(group.isAdmin ? ", you are an admin" : "")\(group.removed ? ", you were removed" : "")")
                    }
                }
            }
        }
    }

    struct Members: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List a group's members from its signed membership history.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var output: OutputOptions
        @OptionGroup var syncing: SyncOption
        @Argument(help: "The group.") var group: String

        func run() async throws {
            try await withAccount(global) { account in
                await syncing.apply(account)
                let members = try await account.members(of: group)
                if output.json {
                    printJSON(members.map(\.json))
                } else {
                    for member in members {
                        let tags = [member.isMe ? "you" : nil, member.isAdmin ? "admin" : nil, member.isMe || member.verified ? nil : "not verified",
                                    member.lookalikes.isEmpty ? nil : "same or look-alike name as " + member.lookalikes.map(\.short).joined(separator: ", ")]
                            .compactMap { $0 }.joined(separator: ", ")
                        let label: TerminalLine = member.isMe ? member.name.map(PersonView.shown) ?? "(no name yet)" : member.person.label
                        say("\(label)  \(member.did)\(tags.isEmpty ? "" : "  [\(tags)]")")
                    }
                }
            }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove a member (admins): the group moves to new keys the removed member never gets.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The group.") var group: String
        @Argument(help: "The member's display name or DID.") var member: String

        func run() async throws {
            try await withAccount(global) { account in
                _ = try? await account.sync()
                try await account.remove(member: member, from: group)
                say("Removed \(member) from \(group); the others were sent new keys.")
            }
        }
    }

    struct Promote: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Make a member an admin (admins).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The group.") var group: String
        @Argument(help: "The member's display name or DID.") var member: String

        func run() async throws {
            try await withAccount(global) { account in
                _ = try? await account.sync()
                try await account.promote(member: member, in: group)
                say("\(member) is now an admin of \(group).")
            }
        }
    }
}
