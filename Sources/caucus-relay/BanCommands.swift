import ArgumentParser
import CaucusRelay
import Foundation

/// What `ban` and `unban` take: the store, and a device key.
struct DeviceKeyOptions: ParsableArguments {
    @OptionGroup var location: AdminStoreOptions

    @Argument(help: ArgumentHelp("The device key: 64 hex digits, the device's DID (did:key:z6Mk…, as `caucus whoami` shows it), or base64.",
                                 valueName: "key"))
    var key: String

    /// Reads the key, or prints why it is none and fails; then runs `body` on it and the open store.
    func run(daemon: CaucusRelayCommand, _ body: (Data, AdminStoreOptions.Opened) async throws -> Void) async throws {
        let device: Data
        do { device = try OperatorKeyText.deviceKey(key) } catch {
            throw failing(error.description)
        }
        try await location.withStore(daemon: daemon) { opened in try await body(device, opened) }
    }
}

/// A device key as the commands print it: hex, and its DID.
private func shown(_ key: Data) -> String {
    let (hex, did) = OperatorKeyText.show(deviceKey: key)
    return did.map { "\(hex) (\($0))" } ?? hex
}

/// `caucus-relay ban KEY`: refuses a device at the relay.
struct BanCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ban",
        abstract: "Bans a device from the relay: it can no longer log in, and its open connections are closed.",
        discussion: """
            Safe while the relay runs, and takes effect without a restart: every relay on the store refuses \
            the device's next authentication with FORBIDDEN, and closes its open connections within 5 \
            seconds (Protocol.md 7.3). Messages waiting for the device stay until they expire or it is \
            unbanned; others may still send to it. `caucus-relay unban` lifts the ban; `caucus-relay bans` \
            lists them.
            """)

    /// The daemon, whose --data-dir and --store the parser may have given these options to.
    @ParentCommand var daemon: CaucusRelayCommand

    @OptionGroup var options: DeviceKeyOptions

    func run() async throws {
        try await options.run(daemon: daemon) { device, opened in
            let (ban, new) = try await opened.store.ban(device, at: Int64(Date().timeIntervalSince1970 * 1000))
            if new {
                print("banned \(shown(device)): refused at its next login; its open connections close within 5 s")
            } else {
                print("\(shown(device)) was already banned, since \(isoTime(ban.bannedAt))")
            }
        }
    }
}

/// `caucus-relay unban KEY`: lifts a ban.
struct UnbanCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unban",
        abstract: "Lifts a device's ban: it may log in again at once.",
        discussion: "A key that is not banned is an error, so that a mistyped key is noticed.")

    /// The daemon, whose --data-dir and --store the parser may have given these options to.
    @ParentCommand var daemon: CaucusRelayCommand

    @OptionGroup var options: DeviceKeyOptions

    func run() async throws {
        try await options.run(daemon: daemon) { device, opened in
            guard try await opened.store.unban(device) else {
                throw AdminFailure("\(shown(device)) is not banned (`caucus-relay bans` lists the bans)")
            }
            print("unbanned \(shown(device)): it may log in again")
        }
    }
}

/// `caucus-relay bans`: lists the banned devices.
struct BansCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bans",
        abstract: "Lists the banned devices, oldest ban first.")

    /// The daemon, whose --data-dir and --store the parser may have given these options to.
    @ParentCommand var daemon: CaucusRelayCommand

    @OptionGroup var location: AdminStoreOptions

    @Flag(help: "Print one JSON object instead of text.")
    var json = false

    /// What `--json` prints.
    struct Report: Encodable {
        struct Ban: Encodable {
            let key: String
            let did: String?
            let bannedAtMs: Int64
        }
        let bans: [Ban]
    }

    func run() async throws {
        try await location.withStore(daemon: daemon) { opened in
            let bans = try await opened.store.bannedDevices()
            if json {
                return try printJSON(Report(bans: bans.map { ban in
                    let (hex, did) = OperatorKeyText.show(deviceKey: ban.key)
                    return Report.Ban(key: hex, did: did, bannedAtMs: ban.bannedAt)
                }))
            }
            if bans.isEmpty { return print("no device is banned") }
            for ban in bans { print("\(shown(ban.key))  banned since \(isoTime(ban.bannedAt))") }
        }
    }
}
