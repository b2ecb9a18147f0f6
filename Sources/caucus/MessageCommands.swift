import ArgumentParser
import CaucusClient
import CaucusProtocol
import CaucusText
import Foundation

struct Send: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Send a message to a group, a member or a DID.",
        discussion: """
            Give the text as `-` (or --stdin) to read it, over as many lines as it takes, from standard input: \
            text on the command line stays in your shell's history and is visible to other users of this \
            computer in `ps` while caucus runs. If the relay cannot be reached the message is kept, encrypted, \
            and sent the next time caucus runs.
            """)
    @OptionGroup var global: GlobalOptions
    @OptionGroup var output: OutputOptions
    @Flag(name: .long, help: "Read the message from standard input (the same as giving `-` as the text).") var stdin = false
    @Argument(help: "A group name, a member's display name, or a DID.") var target: String
    @Argument(help: "The message, or `-` to read it from standard input.") var text: [String] = []

    func validate() throws {
        if stdin, !text.isEmpty { throw ValidationError("give the message either as text or with --stdin, not both") }
        if !stdin, text.isEmpty { throw ValidationError("no message: give it as text, or as `-` to read it from standard input") }
    }

    /// The text from standard input, without the line break that ends its last line.
    private static func readStandardInput() throws -> String {
        if let captured = CommandOutput.captured { return captured.input ?? "" }
        if Console.isTerminal(0) { FileHandle.standardError.write(Data("Type the message; end it with Ctrl-D on a line of its own.\n".utf8)) }
        var text = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
        if text.hasSuffix("\n") { text.removeLast() }
        return text
    }

    func run() async throws {
        let message = stdin || text == ["-"] ? try Self.readStandardInput() : text.joined(separator: " ")
        try await withAccount(global) { account in
            let conversation = try await account.resolve(target)
            let outcome = try await account.send(message, to: conversation)
            switch outcome {
            case .sent:
                if output.json { printJSON(["sent": true]) } else { say("Sent.") }
            case .queued(let why):
                if output.json { printJSON(["sent": false, "queued": true, "reason": why]) } else {
                    say("Queued, encrypted: \(why). It will be sent the next time caucus reaches the relay.")
                }
            case .refused(let why):
                // Never reported as sent: the message was dropped, and the command fails.
                if output.json { printJSON(["sent": false, "refused": true, "reason": why]) }
                throw ClientError.relayRefused("\(why); the message was not sent")
            }
        }
    }
}

struct Read: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Fetch new messages and print the unread ones, then mark them read.")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var output: OutputOptions
    @Flag(name: .long, help: "Leave them unread.") var keepUnread = false

    func run() async throws {
        try await withAccount(global) { account in
            var unreachable = false
            do { try await account.sync() } catch {
                Console.warn("\(error); showing what is already here")
                unreachable = true
            }
            let lines = try await account.unread(markRead: !keepUnread)
            if output.json { printJSON(lines.map(\.json)) } else if lines.isEmpty { say("No new messages.") } else {
                lines.forEach { say($0.line) }
            }
            // What is here was shown; the exit status says that nothing new could be fetched.
            if unreachable { throw ExitCode(1) }
        }
    }
}

struct History: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the latest messages of one conversation.")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var output: OutputOptions
    @OptionGroup var syncing: SyncOption
    @Argument(help: "A group name, a member's display name, or a DID.") var target: String
    @Option(name: .long, help: "How many lines.") var limit: Int = 50

    func run() async throws {
        try await withAccount(global) { account in
            await syncing.apply(account)
            let lines = try await account.history(try await account.resolve(target), limit: max(1, limit))
            if output.json { printJSON(lines.map(\.json)) } else { lines.forEach { say($0.line) } }
        }
    }
}

struct Sync: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Receive what waits on the relay and send what is queued (also admits people who used your invites).")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        try await withAccount(global) { account in
            let received = try await account.sync()
            let queued = try await account.queuedCount()
            let admitted = await account.admissions
            if output.json { printJSON(["received": received, "queued": queued, "admitted": admitted]) } else {
                admitted.forEach { say("You \($0).") }
                say("Received \(received), \(queued) still queued.")
            }
        }
    }
}

struct Expire: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Set disappearing messages for a conversation (every member's caucus deletes them).",
        discussion: "DURATION is like 30m, 12h, 1d or 1w, or off.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "A group name, a member's display name, or a DID.") var target: String
    @Argument(help: "How long messages live, or off.") var duration: String

    func run() async throws {
        let seconds = try parseDuration(duration, what: "DURATION")
        try await withAccount(global) { account in
            let conversation = try await account.resolve(target)
            if case .refused(let why) = try await account.setExpiry(seconds, for: conversation) {
                throw ClientError.relayRefused("\(why); the timer was not changed for the others")
            }
            say(seconds == 0 ? "Disappearing messages are off." : "New messages disappear after \(duration).")
        }
    }
}

struct FileCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "file", abstract: "Send and fetch encrypted files.", subcommands: [SendFile.self, GetFile.self])

    struct SendFile: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "send", abstract: "Encrypt a file and share it in a conversation.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var output: OutputOptions
        @Argument(help: "A group name, a member's display name, or a DID.") var target: String
        @Argument(help: "The file.") var path: String

        func run() async throws {
            try await withAccount(global) { account in
                let conversation = try await account.resolve(target)
                let info = try await account.sendFile(at: path, to: conversation, progress: Console.progress("uploading"))
                if output.json { printJSON(["id": info.id, "name": info.name, "size": info.size]) } else {
                    say("Sent \(info.name) (\(ByteCountText.describe(info.size))); its id is \(info.id).")
                }
            }
        }
    }

    struct GetFile: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "get", abstract: "Download, check and decrypt a shared file.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var output: OutputOptions
        @Argument(help: "The file's id, as `caucus read` shows it.") var id: String
        @Option(name: [.customShort("o"), .customLong("output")], help: "Where to write it (a file or a directory; default: the current directory).")
        var destination: String = "."
        @Flag(name: .long, help: "Replace an existing file.") var force = false

        func run() async throws {
            try await withAccount(global) { account in
                _ = try? await account.sync()
                let (info, path) = try await account.getFile(id, to: destination, overwrite: force, progress: Console.progress("downloading"))
                if output.json { printJSON(["id": info.id, "name": info.name, "size": info.size, "path": path]) } else {
                    say("Saved \(path) (\(ByteCountText.describe(info.size)), checked).")
                }
            }
        }
    }
}
