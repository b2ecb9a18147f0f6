@testable import CaucusClient
import CaucusCrypto
@_exported import CaucusTestSupport
import Foundation

/// A worker on their own device: an identity in its own data directory, using the test relay.
struct Worker {
    let name: String
    let home: ClientHome
    static let passphrase = Passphrase("test passphrase")

    /// Makes the identity (with fast passphrase hardening) and points it at `relay`.
    static func make(_ name: String, in directory: TempDirectory, relay: TestRelay?) async throws -> Worker {
        let worker = Worker(name: name, home: ClientHome(explicit: directory.file(name.lowercased())))
        let account = try await Account.create(home: worker.home, passphrase: passphrase, displayName: name, parameters: .interactive)
        if let relay { try await account.addRelay(relay.url) }
        await account.close()
        return worker
    }

    /// Opens the account, runs `body`, closes it: one `caucus` command.
    @discardableResult
    func run<T>(_ body: (Account) async throws -> T) async throws -> T {
        try await withOpenAccount(home: home, passphrase: Self.passphrase, body)
    }

    /// `caucus read`: syncs and returns the unread lines.
    func read() async throws -> [MessageView] {
        try await run { account in
            try await account.sync()
            return try await account.unread()
        }
    }

    /// The texts of the chat messages among `lines`.
    static func texts(_ lines: [MessageView]) -> [String] {
        lines.filter { $0.message.kind == .text }.map(\.message.text)
    }
}

/// Opens the account at `home`, runs `body` and closes it, whether `body` throws or not.
func withOpenAccount<T>(home: ClientHome, passphrase: Passphrase, _ body: (Account) async throws -> T) async throws -> T {
    let account = try await Account.open(home: home, passphrase: passphrase)
    do {
        let result = try await body(account)
        await account.close()
        return result
    } catch {
        await account.close()
        throw error
    }
}

/// The client error a call throws, or nil.
func clientError(_ body: () async throws -> Void) async -> ClientError? {
    do {
        try await body()
        return nil
    } catch let error as ClientError {
        return error
    } catch {
        return .invalidArgument("not a client error: \(error)")
    }
}

extension TestRelay {
    /// The relay's count of authenticated connections (`caucus_relay_authentications_total`):
    /// every client that talks to it authenticates first.
    var authentications: Int {
        let line = relay.metricsText().split(separator: "\n").first { $0.hasPrefix("caucus_relay_authentications_total ") }
        return line.flatMap { Double($0.split(separator: " ").last ?? "") }.map { Int($0) } ?? 0
    }
}
