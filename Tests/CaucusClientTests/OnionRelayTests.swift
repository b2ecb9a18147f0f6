@testable import CaucusClient
import CaucusRelay
import Foundation
import Testing

/// A relay run as a Tor onion service (issue 21, part 2): the torrc lines the README gives pass
/// Tor's own check, and a relay that announces an onion address is reached by that name through a
/// SOCKS5 proxy that alone knows where the name leads, as Tor does (here a small one on 127.0.0.1,
/// since tests have no Tor network).
@Suite("A relay as a Tor onion service", .timeLimit(.minutes(10)))
struct OnionRelayTests {
    static let onion = "ws://" + String(repeating: "caucus", count: 9) + "ab.onion"

    @Test("packaging/caucus-relay.torrc passes tor --verify-config; a broken copy does not")
    func torrcIsValid() async throws {
        let tor = try #require(SyncTrace.executable(named: "tor") ?? ["/usr/sbin/tor", "/usr/bin/tor"].first {
            FileManager.default.isExecutableFile(atPath: $0)
        }, "tor is not installed: apt-get install tor (scripts/test does)")
        let snippet = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("packaging/caucus-relay.torrc").path
        let checked = try await ChildProcess.run(tor, ["--verify-config", "-f", snippet], environment: [:])
        #expect(checked.status == 0 && checked.stdout.contains("Configuration was valid"), "\(checked)")
        // The check is real: the same lines with the port mapping broken are refused.
        let directory = try TempDirectory()
        defer { directory.remove() }
        let broken = directory.file("broken.torrc")
        try (try String(contentsOfFile: snippet, encoding: .utf8)).replacingOccurrences(of: "127.0.0.1:8080", with: "127.0.0.1:port")
            .write(toFile: broken, atomically: true, encoding: .utf8)
        let refused = try await ChildProcess.run(tor, ["--verify-config", "-f", broken], environment: [:])
        #expect(refused.status != 0, "\(refused)")
    }

    @Test("Workers reach a relay by its onion address through the proxy, which is the only one asked for it")
    func reachedByItsOnionName() async throws {
        let relay = try await TestRelay.start { $0.publicAddresses = [Self.onion] }
        let directory = try TempDirectory()
        defer { directory.remove() }
        let name = String(Self.onion.dropFirst("ws://".count))
        let proxy = try NamingSOCKSProxy(names: [name: relay.running.port])
        defer { proxy.stop() }
        let rosa = try await Worker.make("Rosa", in: directory, relay: nil)
        let tomasz = try await Worker.make("Tomasz", in: directory, relay: nil)
        for worker in [rosa, tomasz] {
            let added = try await worker.run { account in try await account.addRelay(Self.onion, proxy: proxy.url) }
            #expect(added == Self.onion)
            let problem = try await worker.run { account in await account.checkRelay(Self.onion) }
            #expect(problem == nil)
        }
        _ = try await tomasz.read()
        let tomaszKey = try await tomasz.run { $0.did.publicKey }
        try await rosa.run { account in _ = try await account.send("the meeting moved to the library", to: .direct(tomaszKey)) }
        #expect(Worker.texts(try await tomasz.read()) == ["the meeting moved to the library"])
        // Every connection asked the proxy for the onion name and port 80, never for an address.
        #expect(!proxy.asked.isEmpty && proxy.asked.allSatisfy { $0 == "\(name):80" }, "\(proxy.asked)")
        await relay.stop()
    }
}
