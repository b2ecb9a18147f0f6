@testable import CaucusClient
import CaucusProtocol
import Foundation
import Testing

/// What an observer of a worker's connection sees of chatting and of signing a card (issue 21,
/// Protocol.md §7.1 and §9.16), captured between the built `caucus` binary and a real relay by a
/// proxy that records every WebSocket message: the sizes, directions and connections.
@Suite("What the wire shows of a chat and of a card signing", .timeLimit(.minutes(10)))
struct TrafficShapeCLITests {
    typealias Message = RecordingProxy.Message

    /// A binary message decoded: the name of its body as §7.11 spells it in Swift (`postCard`),
    /// and its size without the padding.
    static func decoded(_ message: Message) throws -> (body: String, unpadded: Int) {
        let body: Any?, unpadded: [UInt8]
        if message.fromClient {
            var frame = try WireClientFrame(serializedBytes: message.payload)
            body = frame.body
            frame.padding = Data()
            unpadded = try frame.serializedBytes()
        } else {
            var frame = try WireServerFrame(serializedBytes: message.payload)
            body = frame.body
            frame.padding = Data()
            unpadded = try frame.serializedBytes()
        }
        return (body.flatMap { Mirror(reflecting: $0).children.first?.label } ?? "none", unpadded.count)
    }

    /// The binary messages of `connection`, decoded: each with its size on the wire.
    static func frames(_ connection: [Message]) throws -> [(fromClient: Bool, size: Int, body: String)] {
        try connection.filter(\.isBinary).map { ($0.fromClient, $0.payload.count, try decoded($0).body) }
    }

    /// The device key `connection` authenticated with.
    static func deviceKey(_ connection: [Message]) throws -> Data? {
        for message in connection where message.fromClient && message.isBinary {
            if case .authenticate(let request)? = try WireClientFrame(serializedBytes: message.payload).body { return request.deviceKey }
        }
        return nil
    }

    /// The bytes the frames would be without their padding, and with it.
    static func bytes(_ connections: [[Message]]) throws -> (content: Int, onTheWire: Int) {
        let binary = connections.joined().filter(\.isBinary)
        return (try binary.reduce(0) { $0 + (try decoded($1).unpadded) }, binary.reduce(0) { $0 + $1.payload.count })
    }

    /// The connections `body` made, as the proxy recorded them.
    static func capture(_ proxy: RecordingProxy, _ body: () async throws -> Void) async throws -> [[Message]] {
        let start = proxy.connections.count
        try await body()
        return Array(proxy.connections[start...])
    }

    @Test("A chat, a sync and a card signing: every frame of a size class, and the signing shaped as a sync")
    func chatAndSigningLookAlike() async throws {
        let proxy = try RecordingProxy()
        defer { proxy.stop() }
        let relay = try await TestRelay.start { $0.publicAddresses = [proxy.url] }
        proxy.forward(to: relay.running.port)
        let directory = try TempDirectory()
        defer { directory.remove() }
        do {
            let workers = try await makeGroup(["Rosa", "Tomasz"], relayURL: proxy.url, in: directory)
            let (rosa, tomasz) = (workers[0], workers[1])
            let id = try await CardCLITests.campaign(by: rosa, unitSize: 4, in: directory)
            try await tomasz.succeed("campaign", "list", "--sync")

            let chat = try await Self.capture(proxy) {
                try await rosa.succeed("send", CLIWorker.group, "Meeting Thursday at the library, bring a friend")
                let read = try await tomasz.succeed("read")
                #expect(read.stdout.contains("Meeting Thursday at the library"), "\(read)")
            }
            let sync = try await Self.capture(proxy) { try await tomasz.succeed("sync") }
            let signing = try await Self.capture(proxy) {
                try await tomasz.succeed("card", "sign", id, "--name", "Tomasz Nowak", "--contact", "tomasz@example.org",
                                         "--phone", "555 0102", "--yes")
            }

            // Every frame of every connection the test made, both ways, is of a size class.
            let everything = try proxy.connections.flatMap { try Self.frames($0) }
            #expect(everything.count > 50)
            for frame in everything where !isFrameSizeClass(frame.size) {
                Issue.record("\(frame.fromClient ? "client" : "relay") \(frame.body): \(frame.size) bytes")
            }
            // The chat's text went out and came in as 4,096-byte frames; so did the card.
            let chatFrames = try chat.flatMap { try Self.frames($0) }
            let signingFrames = try signing.flatMap { try Self.frames($0) }
            #expect(Set(chatFrames.filter { $0.body == "send" || $0.body == "delivery" }.map(\.size)) == [4_096], "\(chatFrames)")
            #expect(Set(signingFrames.filter { $0.body == "postCard" || $0.body == "cardPosted" }.map(\.size)) == [4_096], "\(signingFrames)")
            #expect(signingFrames.filter { $0.body == "postCard" }.count == 1)
            // Signing used no size the chat and the sync did not.
            let ordinary = Set((chatFrames + (try sync.flatMap { try Self.frames($0) })).map(\.size))
            #expect(Set(signingFrames.map(\.size)).isSubset(of: ordinary), "signing \(signingFrames.map(\.size)), ordinary \(ordinary)")

            // Signing shows as a sync does: two connections, and on the second (the companion) as
            // many frames each way, of the same sizes, in the same order: a post where the sync
            // pinged. (The relay's QueueEmpty push may pass the client's request either way.)
            #expect(sync.count == 2 && signing.count == 2, "sync \(sync.count), signing \(signing.count) connections")
            let companionOfSync = try #require(try sync.first { try Self.frames($0).contains { $0.body == "ping" } })
            let companionOfSigning = try #require(try signing.first { try Self.frames($0).contains { $0.body == "postCard" } })
            let (syncCompanion, signingCompanion) = (try Self.frames(companionOfSync), try Self.frames(companionOfSigning))
            for fromClient in [true, false] {
                #expect(syncCompanion.filter { $0.fromClient == fromClient }.map(\.size)
                            == signingCompanion.filter { $0.fromClient == fromClient }.map(\.size),
                        "sync \(syncCompanion), signing \(signingCompanion)")
            }
            #expect(syncCompanion.filter(\.fromClient).map(\.body) == ["hello", "authenticate", "ping"])
            #expect(signingCompanion.filter(\.fromClient).map(\.body) == ["hello", "authenticate", "postCard"])
            // The post went under a key seen on no other connection: not Tomasz's, not anyone's.
            let keys = try proxy.connections.map { try Self.deviceKey($0) }
            let postedUnder = try Self.deviceKey(companionOfSigning)
            #expect(postedUnder != nil && keys.filter { $0 == postedUnder }.count == 1)
            let mainOfSigning = try #require(signing.first { $0 != companionOfSigning })
            let tomaszKey = try #require(try Self.deviceKey(mainOfSigning))
            #expect(postedUnder != tomaszKey)

            // The card reached the inbox: the organizer's tally counts it.
            let tally = try #require(try await rosa.json("cards", "tally", id) as? [String: Any])
            #expect(tally["valid"] as? Int == 1, "\(tally)")
            let status = try #require(try await tomasz.json("card", "status", id) as? [[String: Any]])
            #expect(status.map { $0["posted"] as? Bool } == [true], "\(status)")

            // What padding costs, for SECURITY.md: bytes on the wire against bytes without it.
            for (name, capture) in [("chat", chat), ("sync", sync), ("card signing", signing)] {
                let (content, wire) = try Self.bytes(capture)
                print("traffic shape: \(name): \(capture.count) connections, \(capture.flatMap { $0.filter(\.isBinary) }.count) frames, "
                      + "\(content) bytes unpadded, \(wire) padded (\(String(format: "%.1f", Double(wire) / Double(max(content, 1))))×)")
            }
        } catch {
            await relay.stop()
            throw error
        }
        await relay.stop()
    }

    @Test("A card the relay could not take is kept, marked as waiting, and posted by the next connection's companion")
    func aCardWaitsForTheRelay() async throws {
        let proxy = try RecordingProxy()
        defer { proxy.stop() }
        let directory = try TempDirectory()
        defer { directory.remove() }
        let relayDirectory = try TempDirectory()
        var relay = try await TestRelay.start(directory: relayDirectory) { $0.publicAddresses = [proxy.url] }
        proxy.forward(to: relay.running.port)
        do {
            let workers = try await makeGroup(["Rosa", "Amira"], relayURL: proxy.url, in: directory)
            let (rosa, amira) = (workers[0], workers[1])
            let id = try await CardCLITests.campaign(by: rosa, unitSize: 4, in: directory)
            try await amira.succeed("campaign", "list", "--sync")

            await relay.halt()
            let refused = try await amira.run("card", "sign", id, "--name", "Amira Haddad", "--contact", "amira@example.org",
                                              "--phone", "555 0103", "--yes")
            #expect(refused.status != 0 && refused.stderr.contains("it is signed and kept on this computer"), "\(refused)")
            #expect(refused.stderr.contains("caucus sync"), "\(refused)")
            let waiting = try await amira.succeed("card", "status", id)
            #expect(waiting.stdout.contains("NOT POSTED YET"), "\(waiting)")
            let waitingJSON = try #require(try await amira.json("card", "status", id) as? [[String: Any]])
            #expect(waitingJSON.map { $0["posted"] as? Bool } == [false], "\(waitingJSON)")

            relay = try await TestRelay.start(directory: relayDirectory) { $0.publicAddresses = [proxy.url] }
            proxy.forward(to: relay.running.port)
            let synced = try await Self.capture(proxy) { try await amira.succeed("sync") }
            let syncedFrames = try synced.map { try Self.frames($0) }
            #expect(syncedFrames.joined().filter { $0.body == "postCard" }.count == 1, "\(syncedFrames)")
            let posted = try #require(try await amira.json("card", "status", id) as? [[String: Any]])
            #expect(posted.map { $0["posted"] as? Bool } == [true], "\(posted)")
            let tally = try #require(try await rosa.json("cards", "tally", id) as? [String: Any])
            #expect(tally["valid"] as? Int == 1, "\(tally)")
            // Posted once: a later connection's companion pings.
            let later = try await Self.capture(proxy) { try await amira.succeed("sync") }
            #expect(try later.flatMap { try Self.frames($0) }.filter { $0.body == "postCard" }.isEmpty)
        } catch {
            await relay.stop()
            throw error
        }
        await relay.stop()
    }
}
