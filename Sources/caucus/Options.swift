import ArgumentParser
import CaucusClient
import CaucusCrypto
import CaucusText
import Foundation
import NIOSSL

/// Options every command takes: where the identity lives and how to reach a wss:// relay.
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Data directory of the identity to use.", discussion: "Default: $CAUCUS_HOME, else $XDG_DATA_HOME/caucus, else ~/.local/share/caucus.", valueName: "dir"))
    var home: String?

    @Option(name: .long, help: ArgumentHelp("Also trust this CA certificate (PEM) for wss:// relays.", valueName: "file"))
    var caFile: String?

    @Option(name: .long, help: ArgumentHelp(
        "Reach relays only through this SOCKS5 proxy, which also resolves their names (Tor: socks5h://127.0.0.1:9050).",
        discussion: "Default: $CAUCUS_PROXY, else the proxy kept with the relay (`caucus relay add URL --proxy …` keeps it). "
            + "If the proxy cannot be reached, caucus fails: it never connects directly while a proxy is set.",
        valueName: "socks5h://host:port"))
    var proxy: String?

    /// The proxy for every relay this command reaches: `--proxy`, else CAUCUS_PROXY (nil: each relay's own).
    var proxyForAll: String? {
        proxy ?? ProcessInfo.processInfo.environment["CAUCUS_PROXY"].flatMap { $0.isEmpty ? nil : $0 }
    }

    var clientHome: ClientHome { ClientHome(explicit: home) }

    func tls() throws -> TLSConfiguration? {
        guard let path = caFile ?? ProcessInfo.processInfo.environment["CAUCUS_CA_FILE"] else { return nil }
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.trustRoots = .file(path)
        return configuration
    }

    /// Opens the identity, asking for the passphrase (or reading CAUCUS_PASSPHRASE).
    func open() async throws -> Account {
        let home = clientHome
        guard FileManager.default.fileExists(atPath: home.keystorePath) else { throw ClientError.noIdentity(home: home.path) }
        let trust = try tls()
        let account = try await withPassphrase { passphrase throws(ClientError) in try await Account.open(home: home, passphrase: passphrase, tls: trust) }
        await account.setRelayTimeouts(try relayTimeouts())
        try await account.setProxyForAll(proxyForAll)
        return account
    }

    /// Opens the identity with `passphrase` (the agent, given it by `caucus agent start`).
    func open(with passphrase: Passphrase) async throws -> Account {
        let home = clientHome
        guard FileManager.default.fileExists(atPath: home.keystorePath) else { throw ClientError.noIdentity(home: home.path) }
        let account = try await Account.open(home: home, passphrase: passphrase, tls: try tls())
        await account.setRelayTimeouts(try relayTimeouts())
        try await account.setProxyForAll(proxyForAll)
        return account
    }

    /// The identity's current passphrase, checked against its keystore (for `passphrase change`).
    func currentPassphrase() async throws -> Passphrase {
        let home = clientHome
        guard FileManager.default.fileExists(atPath: home.keystorePath) else { throw ClientError.noIdentity(home: home.path) }
        return try await withPassphrase { passphrase throws(ClientError) in
            try Account.checkPassphrase(passphrase, home: home)
            return passphrase
        }
    }

    /// Runs `body` with the passphrase from CAUCUS_PASSPHRASE, or asked at the terminal, where a wrong
    /// one is asked for once more.
    private func withPassphrase<T>(_ body: (Passphrase) async throws(ClientError) -> T) async throws -> T {
        let prompt = "Passphrase for \(clientHome.path): "
        let fromEnvironment = ProcessInfo.processInfo.environment["CAUCUS_PASSPHRASE"] != nil
        do { return try await body(try Prompt.passphrase(prompt)) } catch ClientError.wrongPassphrase where !fromEnvironment {
            Prompt.tell("Wrong passphrase; try again.")
            return try await body(try Prompt.passphrase(prompt))
        }
    }

    /// How long the relay is waited for: `CAUCUS_HANDSHAKE_TIMEOUT` and `CAUCUS_REQUEST_TIMEOUT`
    /// (seconds) when set, else the defaults (Protocol.md §7.13).
    func relayTimeouts() throws -> RelayTimeouts {
        var timeouts = RelayTimeouts.standard
        let environment = ProcessInfo.processInfo.environment
        for (name, path) in [("CAUCUS_HANDSHAKE_TIMEOUT", \RelayTimeouts.handshake), ("CAUCUS_REQUEST_TIMEOUT", \RelayTimeouts.request)] {
            guard let text = environment[name] else { continue }
            guard let seconds = Double(text), seconds > 0, seconds <= 3_600 else {
                throw ValidationError("\(name) is a number of seconds from 0 to 3600 (got \(text))")
            }
            timeouts[keyPath: path] = .milliseconds(Int(seconds * 1_000))
        }
        return timeouts
    }
}

/// How hard Argon2id makes each guess at the passphrase (`--kdf`).
enum KDFLevel: String, ExpressibleByArgument, CaseIterable {
    case moderate, interactive

    static let help = ArgumentHelp("Passphrase hardening: moderate (default, about 1 s) or interactive (faster, for old machines and tests).",
                                   valueName: "level")

    var parameters: Argon2id.Parameters { self == .moderate ? .moderate : .interactive }
}

/// `--sync` for views that can be answered from this computer's store (issue 17): without
/// it they do not contact the relay at all.
struct SyncOption: ParsableArguments {
    @Flag(name: .long, help: "First receive what waits on the relay and send what is queued. Without it this view shows what is stored on this computer and does not contact the relay.")
    var sync = false

    /// Syncs when asked; a relay that cannot be reached is said, and the view goes on with what is stored.
    func apply(_ account: Account) async {
        guard sync else { return }
        do throws(ClientError) {
            try await account.sync()
        } catch {
            Console.warn("could not sync (\(error)); showing what is stored on this computer")
        }
    }
}

/// `--json` for commands that print data.
struct OutputOptions: ParsableArguments {
    @Flag(name: .long, help: "Print JSON for scripts instead of text.")
    var json = false
}

/// The account of the agent running this command (`cli.run`); nil in a `caucus` process of its own.
enum AgentContext {
    @TaskLocal static var account: Account?
}

/// Runs a command's body with an open account, closes it, and prints problems met on the way. In
/// the agent, the body gets the agent's account, which stays open.
func withAccount<T>(_ options: GlobalOptions, _ body: (Account) async throws -> T) async throws -> T {
    if let account = AgentContext.account {
        // A proxy this command names (`--proxy`, or CAUCUS_PROXY where it was typed, which
        // `cli.run` applied) holds for the agent from now on; one the agent started with stays when
        // the command names none.
        if let proxy = options.proxy { try await account.setProxyForAll(proxy) }
        do {
            let result = try await body(account)
            await warnProblems(account)
            return result
        } catch {
            await warnProblems(account)
            throw error
        }
    }
    let account = try await options.open()
    do {
        let result = try await body(account)
        await finish(account)
        return result
    } catch {
        await finish(account)
        throw error
    }
}

private func finish(_ account: Account) async {
    await account.close()
    await warnProblems(account)
}

/// Shows the problems the account met during the command, once.
private func warnProblems(_ account: Account) async {
    for problem in await account.takeProblems() { Console.warn(problem) }
}

/// Reads a timer or lifetime such as `1d`.
func parseDuration(_ text: String, what: String) throws -> UInt32 {
    guard let seconds = DurationText.seconds(text) else {
        throw ValidationError("\(what) must look like 30s, 10m, 12h, 1d or 2w (got \(text))")
    }
    return seconds
}

extension MessageView {
    /// The conversation as `read` names it: the group, or the person with their marks.
    var conversationLabel: TerminalLine { peer?.label ?? "\(conversationName)" }

    /// Who sent a message, with their marks ("you" for the user).
    var senderLabel: TerminalLine { message.outgoing ? "you" : author?.label ?? "?" }

    /// The line `read` and `history` print: later lines of a text indented under its first (Protocol.md §9.5).
    var line: TerminalLine {
        let time = Date(timeIntervalSince1970: Double(message.sentAt) / 1000).formatted(date: .omitted, time: .shortened)
        let head: TerminalLine = "[\(conversationLabel)] \(time) "
        switch message.kind {
        case .text: return .block("\(head)\(senderLabel): ", message.text)
        case .file: return "\(head)\(senderLabel): \(message.text)"
        case .notice: return .block("\(head)* ", message.text)
        case .warning: return .block("\(head)!! ", message.text)
        }
    }
}
