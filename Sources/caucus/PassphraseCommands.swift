import ArgumentParser
import CaucusClient
import CaucusCrypto
import Foundation

struct PassphraseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "passphrase", abstract: "Change the passphrase that protects your keys on this computer.",
        subcommands: [Change.self])

    struct Change: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Re-seal your keys under a new passphrase (the current one is needed).",
            discussion: """
                The keystore is written anew beside the old one, synced, and moved into its place, so an \
                interruption leaves either the old passphrase or the new one working, never neither. Scripts \
                give the current passphrase in CAUCUS_PASSPHRASE and the new one in CAUCUS_NEW_PASSPHRASE.
                """)
        @OptionGroup var global: GlobalOptions

        @Option(name: .long, help: KDFLevel.help) var kdf = KDFLevel.moderate

        func run() async throws {
            let home = global.clientHome
            let current = try await global.currentPassphrase()
            let new = try Prompt.newPassphrase(environment: "CAUCUS_NEW_PASSPHRASE")
            try Account.changePassphrase(home: home, from: current, to: new, parameters: kdf.parameters, allowWeak: Prompt.allowWeak)
            say("Changed the passphrase of \(home.path).")
        }
    }
}
