import ArgumentParser
import CaucusClient
import CaucusText
import Foundation

/// `caucus paper-key …` and `caucus recover`: a paper key's recovery phrase, and recovering with it
/// (Protocol.md §2.3, §9.15).
struct PaperKeyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "paper-key",
        abstract: "Your paper key: 12 words that recover your identity when every computer is lost.",
        subcommands: [New.self])

    /// Shows a new recovery phrase, once.
    static func show(_ phrase: String) {
        say("""
            Your recovery phrase (your paper key). Write these 12 words on paper now and keep it somewhere safe, away \
            from your computers: it is shown only this once, and whoever holds it can become you.

                \(phrase)

            If every computer of yours is lost: `caucus recover --relay URL` on a new one.
            """)
    }

    struct New: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make a new paper key; the one before it (if any) stops working.",
            discussion: "Your devices and contacts are told; the relay forgets the recovery box of the old key.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            try await withAccount(global) { account in
                let phrase = try await account.makePaperKey()
                if output.json { printJSON(["recovery_phrase": phrase]) } else { PaperKeyCommand.show(phrase) }
            }
        }
    }
}

struct Recover: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Recover your identity with your paper key's 12 words, when every computer of yours is lost.",
        discussion: """
            Run it on the new computer, with an empty --home. It asks for the recovery phrase (or reads \
            CAUCUS_RECOVERY_PHRASE) and a new passphrase. Your other computers are revoked: the relay refuses them from \
            then on. Your contacts are told of the change of devices, and an admin of each of your groups is asked to \
            give the group to this computer; you see it once their client has run.
            """)
    @OptionGroup var global: GlobalOptions
    @OptionGroup var output: OutputOptions
    @Option(name: .long, help: ArgumentHelp("The relay your paper key was made with (ws://HOST:PORT or wss://HOST).", valueName: "url"))
    var relay: String
    @Option(name: .long, help: "A name for this computer, shown in `caucus device list`.") var name: String?
    @Option(name: .long, help: KDFLevel.help) var kdf = KDFLevel.moderate

    func run() async throws {
        let home = global.clientHome
        guard !FileManager.default.fileExists(atPath: home.keystorePath) else { throw ClientError.identityExists(home: home.path) }
        guard let deviceName = try name ?? Prompt.line("A name for this computer (for your own device list): ") else {
            throw ValidationError("a name for this computer is needed (--name)")
        }
        let phrase = try Prompt.recoveryPhrase()
        let passphrase = try Prompt.newPassphrase()
        let (account, recovery) = try await Account.recover(
            home: home, passphrase: passphrase, phrase: phrase, relay: relay, name: deviceName, parameters: kdf.parameters,
            tls: try global.tls(), proxy: global.proxyForAll, allowWeakPassphrase: Prompt.allowWeak,
            handshakeTimeout: try global.relayTimeouts().handshake)
        let displayName = try await account.displayName()
        await account.close()
        if output.json {
            printJSON(["did": account.did.description, "name": displayName, "device": deviceName, "home": home.path,
                       "contacts": recovery.contacts, "groups_asked": recovery.groupsAsked, "groups_without_admin": recovery.groupsWithoutAdmin])
            return
        }
        say("Recovered \(displayName) (\(account.did.short)) on this computer, named \(deviceName); your other computers are revoked.")
        say("\(recovery.contacts) contact(s) restored and told of the change.")
        if !recovery.groupsAsked.isEmpty {
            say("Asked an admin of each of these groups to give them to this computer: \(recovery.groupsAsked.joined(separator: ", ")).")
            say("They arrive once the admin's client runs (`caucus sync` here then shows them).")
        }
        if !recovery.groupsWithoutAdmin.isEmpty {
            say("No other admin could be asked for: \(recovery.groupsWithoutAdmin.joined(separator: ", ")); ask a member for a new invite.")
        }
    }
}
