import ArgumentParser
import CaucusClient
import CaucusTerminal
import CaucusText
import Foundation

/// `caucus device …`: this identity's devices (Protocol.md §2.2, §9.13).
struct DeviceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "device",
        abstract: "Use your identity on several computers: link one, list them, revoke one.",
        subcommands: [Add.self, Link.self, List.self, Revoke.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a one-time code (and its QR code) that makes another computer a device of yours.",
            discussion: """
                Run `caucus device link CODE` on the other computer (with its own, empty --home) while this command waits. \
                The code works once and for 10 minutes; whoever holds it gets your identity, so show it to no one else.
                """)
        @OptionGroup var global: GlobalOptions
        @Flag(name: .long, help: "Do not draw the QR code.") var noQR = false

        func run() async throws {
            try await withAccount(global) { account in
                let linked = try await account.addDevice { progress in
                    switch progress {
                    case .code(let code):
                        say("One-time device link code, valid for 10 minutes (until \(code.expiresAt.formatted(date: .omitted, time: .shortened))):\n\n\(code.text)\n")
                        if !noQR, let qr = try? QRCode(code.text) { CommandOutput.write(qr.terminalRendering()) }
                        say("On the new computer run: caucus device link \(code.text)")
                        say("Waiting for it…")
                        // Whoever reads this output through a pipe needs the code now, not at exit.
                        fflush(nil)
                    case .linking(let name):
                        Console.tell("Linking \(name)…")
                    }
                }
                say("Linked \(linked.name): it is now one of your devices\(linked.groups > 0 ? ", and was given your \(linked.groups) group(s)" : "").")
            }
        }
    }

    struct Link: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make this computer a device of an identity you have elsewhere, with the code `caucus device add` printed there.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var output: OutputOptions
        @Argument(help: "The code `caucus device add` printed on your other computer.") var code: String
        @Option(name: .long, help: "A name for this computer, shown in `caucus device list`.") var name: String?
        @Option(name: .long, help: KDFLevel.help) var kdf = KDFLevel.moderate

        func run() async throws {
            let home = global.clientHome
            guard !FileManager.default.fileExists(atPath: home.keystorePath) else { throw ClientError.identityExists(home: home.path) }
            let linkCode = try LinkCode(parsing: code)
            guard let deviceName = try name ?? Prompt.line("A name for this computer (for your own device list): ") else {
                throw ValidationError("a name for this computer is needed (--name)")
            }
            let passphrase = try Prompt.newPassphrase()
            Console.tell("Asking your other device through \(linkCode.relay); waiting for it to answer…")
            let account = try await Account.link(home: home, passphrase: passphrase, code: linkCode, name: deviceName,
                                                 parameters: kdf.parameters, tls: try global.tls(), proxy: global.proxyForAll,
                                                 allowWeakPassphrase: Prompt.allowWeak,
                                                 handshakeTimeout: try global.relayTimeouts().handshake)
            let displayName = try await account.displayName()
            if !output.json { say("This computer is now a device of \(displayName) (\(account.did.short)), named \(deviceName).") }
            let groups: (received: Int, announced: Int)
            do {
                if !output.json { Console.tell("Receiving your groups from your other device…") }
                groups = try await account.receiveLinkedGroups()
            } catch {
                await account.close()
                throw error
            }
            await account.close()
            if output.json {
                printJSON(["did": account.did.description, "name": displayName, "device": deviceName, "home": home.path,
                           "groups": groups.received, "groups_announced": groups.announced])
            } else if groups.received < groups.announced {
                say("""
                    \(groups.received) of your \(groups.announced) group(s) have arrived so far; the rest come at the next \
                    `caucus sync` if your other device gave them.
                    """)
            } else if groups.announced > 0 {
                say("Your \(groups.announced) group(s) are here.")
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Revoke one of your other devices (lost, broken or taken): it gets nothing more.",
            discussion: """
                The relay refuses the device from now on, each of your groups moves to new keys that it does not get, and \
                your contacts are told. Name it as `caucus device list` shows it, or by the start of its key.
                """)
        @OptionGroup var global: GlobalOptions
        @OptionGroup var output: OutputOptions
        @Argument(help: "The device's name, or the start of its key (at least 4 hex digits).") var device: String

        func run() async throws {
            try await withAccount(global) { account in
                let revoked = try await account.revokeDevice(device)
                if output.json {
                    printJSON(["device": revoked.name, "groups": revoked.groups])
                } else {
                    say("Revoked \(revoked.name): the relay refuses it\(revoked.groups > 0 ? ", and your \(revoked.groups) group(s) moved to new keys it does not have" : "").")
                }
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List your devices: active and revoked.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            try await withAccount(global) { account in
                let devices = try await account.deviceList()
                if output.json {
                    printJSON(devices.map { device -> [String: Any] in
                        var object: [String: Any] = ["name": device.name, "key": device.fragment, "kind": device.kind == .paper ? "paper" : "computer",
                                                     "this_device": device.isThisDevice, "active": device.revokedAt == nil]
                        if let added = device.addedAt { object["added_at"] = ISO8601DateFormatter().string(from: added) }
                        if let revoked = device.revokedAt { object["revoked_at"] = ISO8601DateFormatter().string(from: revoked) }
                        return object
                    })
                    return
                }
                for device in devices {
                    let state = device.revokedAt.map { "revoked \($0.formatted(date: .abbreviated, time: .shortened))" } ?? "active"
                    say("\(device.name)  \(device.fragment)  \(device.kind == .paper ? "paper key" : "computer")  \(state)\(device.isThisDevice ? "  (this computer)" : "")")
                }
            }
        }
    }
}
