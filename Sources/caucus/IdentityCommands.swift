import ArgumentParser
import CaucusClient
import CaucusCrypto
import CaucusText
import Foundation

struct Init: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Make a new identity on this computer, protected by a passphrase.",
        discussion: "Your identity is a key made here and never sent anywhere; others see it as a DID (did:key:z6Mk…).")

    @OptionGroup var global: GlobalOptions
    @OptionGroup var output: OutputOptions

    @Option(name: .long, help: "The name other members see (only members of your groups can read it).")
    var name: String?

    @Option(name: .long, help: ArgumentHelp("Relay to use (ws://HOST:PORT or wss://HOST).", valueName: "url"))
    var relay: String?

    @Option(name: .long, help: KDFLevel.help) var kdf = KDFLevel.moderate

    @Flag(name: .long, help: "Also make a paper key: 12 words, shown once, that recover your identity when every computer is lost (needs --relay).")
    var paperKey = false

    func run() async throws {
        let home = global.clientHome
        guard !FileManager.default.fileExists(atPath: home.keystorePath) else { throw ClientError.identityExists(home: home.path) }
        guard !paperKey || relay != nil else { throw ValidationError("a paper key is kept with a relay: give --relay URL") }
        guard let displayName = try name ?? Prompt.line("Your display name (what group members will see): ") else {
            throw ValidationError("a display name is needed (--name)")
        }
        let account = try await Account.create(home: home, passphrase: try Prompt.newPassphrase(), displayName: displayName,
                                         parameters: kdf.parameters, tls: try global.tls(), allowWeakPassphrase: Prompt.allowWeak)
        await account.setRelayTimeouts(try global.relayTimeouts())
        try await account.setProxyForAll(global.proxyForAll)
        if let relay { try await account.addRelay(relay, proxy: global.proxy) }
        let phrase = paperKey ? try await account.makePaperKey() : nil
        if output.json {
            var object: [String: Any] = ["did": account.did.description, "name": displayName, "home": home.path]
            if let phrase { object["recovery_phrase"] = phrase }
            printJSON(object)
        } else {
            if let phrase { PaperKeyCommand.show(phrase) }
            say("Created your identity in \(home.path)")
            say("  DID:  \(account.did)")
            say("  name: \(displayName)")
            say(relay == nil ? "Next: join a group with `caucus join CODE`, or `caucus relay add URL` to use a relay." : "Next: `caucus join CODE` or `caucus group create NAME`.")
        }
    }
}

struct Whoami: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show your DID and display name, and how to share them.")

    @OptionGroup var global: GlobalOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        try await withAccount(global) { account in
            let name = try await account.displayName()
            let relays = try await account.relays()
            if output.json {
                printJSON(["did": account.did.description, "name": name, "home": account.home.path, "relays": relays])
            } else {
                say("\(name)\n\(account.did)")
                say("Share your DID with someone you trust so they can write to you (`caucus send \(account.did.short) …`);")
                say("compare safety numbers in person with `caucus verify NAME` before trusting a contact.")
                if relays.isEmpty { say("No relay yet: `caucus relay add URL`.") }
            }
        }
    }
}

struct RelayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "relay", abstract: "Choose the relay that stores and forwards your encrypted messages.",
        subcommands: [Add.self, List.self, Use.self, Remove.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add a relay and check that it answers.",
            discussion: """
                The first relay added is the one used (`caucus relay use` changes that). For a wss:// relay whose \
                certificate your system does not trust (one the union made itself), give its CA certificate with \
                --ca-file: it is kept with the relay and trusted for it from then on. Likewise --proxy \
                socks5h://127.0.0.1:9050 keeps a SOCKS5 proxy (Tor) for the relay: every connection to it goes \
                through the proxy, and none is made when the proxy cannot be reached.
                """)
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The relay's address, ws://HOST:PORT or wss://HOST.") var url: String

        func run() async throws {
            try await withAccount(global) { account in
                let added = try await account.addRelay(url, caFile: global.caFile, proxy: global.proxy)
                // This relay, whichever one is in use: the check says whether it answers.
                if let problem = await account.checkRelay(added) {
                    say("Relay added: \(added)")
                    Console.warn("\(problem); caucus will try it again whenever it uses it")
                    return
                }
                say("Relay added and reachable: \(added)")
                // Prekeys go to the relay in use on the first connection to it.
                if try await account.relays().first == added { _ = try? await account.sync() }
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List your relays, the first one in use.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            try await withAccount(global) { account in
                let relays = try await account.relays(), proxies = try await account.relayProxies()
                if output.json {
                    printJSON(relays)
                } else {
                    for relay in relays { say("\(relay)\(proxies[relay].map { "  (through \($0))" } ?? "")") }
                }
            }
        }
    }

    struct Use: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Use this relay (one already added) from now on.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The relay's address, as `caucus relay list` shows it.") var url: String

        func run() async throws {
            try await withAccount(global) { account in
                try await account.useRelay(url)
                say("Using \(try Account.normalizedRelay(url)) from now on. Your groups and contacts must use it too to reach you.")
            }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Forget a relay (with the CA certificate kept for it).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The relay's address, as `caucus relay list` shows it.") var url: String

        func run() async throws {
            try await withAccount(global) { account in
                try await account.removeRelay(url)
                if let next = try await account.relays().first {
                    say("Removed \(url); caucus uses \(next) now.")
                } else {
                    say("Removed \(url); no relay is left: add one with `caucus relay add URL`.")
                }
            }
        }
    }
}

struct Contacts: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the people you know from your groups and conversations.",
        discussion: """
            \(PersonView.verifiedMark) marks someone you verified (`caucus verify`). A name that is the same as, or looks like, \
            another person's (yours included) is shown with its DID fragment, and with \(PersonView.lookAlikeMark) unless verified.
            """)
    @OptionGroup var global: GlobalOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        try await withAccount(global) { account in
            let people = try await account.contacts()
            if output.json {
                printJSON(people.map(\.json))
            } else if people.isEmpty {
                say("No contacts yet: the people of your groups and conversations appear here.")
            } else {
                for person in people { say("\(person.label)  \(person.did)\(person.verified ? "" : "  [not verified]")") }
            }
        }
    }
}

struct Verify: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the safety number you share with someone, and mark them verified.",
        discussion: "Compare the 60 digits in person or on a call you trust. If they match, run again with --confirm.")

    @OptionGroup var global: GlobalOptions
    @OptionGroup var output: OutputOptions
    @Argument(help: "A member's display name or DID.") var member: String
    @Flag(name: .long, help: "The numbers matched: mark this contact verified.") var confirm = false
    @Flag(name: .long, help: "Remove the verified mark.") var unverify = false

    func run() async throws {
        try await withAccount(global) { account in
            if confirm || unverify { try await account.setVerified(member, confirm) }
            let result = try await account.verification(of: member)
            if output.json {
                printJSON(["did": result.did.description, "name": result.name.map { $0 as Any } ?? NSNull(), "safety_number": result.safetyNumber.digits,
                           "verified": result.verified,
                           "sessions": ["post_quantum": result.postQuantumSessions, "classical": result.classicalSessions]])
                return
            }
            say("Safety number with \(result.person.label) (\(result.did)):\n")
            say("    \(result.safetyNumber)\n")
            switch (result.postQuantumSessions, result.classicalSessions) {
            case (0, 0):
                break
            case (let hybrid, 0):
                let devices = hybrid == 1 ? "their device" : "each of their \(hybrid) devices"
                say("Your conversation with \(devices) began post-quantum (X3DH with ML-KEM-768): a recording of it stays closed even to someone who later breaks X25519.")
            case (let hybrid, let classical):
                say("\(classical) of the \(hybrid + classical) conversations with their devices began with X25519 alone (their client published no post-quantum keys then): a recording of those could be opened by someone who later breaks X25519.")
            }
            if result.verified {
                say("Verified (\(PersonView.verifiedMark)). Caucus warns loudly if someone else starts using this name or one like it.")
            } else {
                say("Not verified. Compare these digits with \(result.name.map(PersonView.shown) ?? "them") in person; if they match, run:")
                say("    caucus verify \(member) --confirm")
            }
        }
    }
}
