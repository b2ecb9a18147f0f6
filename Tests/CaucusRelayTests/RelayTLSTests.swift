import CaucusCrypto
import CaucusProtocol
import CaucusRelay
import CaucusRelayClient
import Foundation
import NIOSSL
import Testing

/// wss:// with a certificate made for the test by openssl.
@Suite("Relay: TLS", .timeLimit(.minutes(10)))
struct RelayTLSTests {
    @Test("A client that trusts the relay's certificate talks over wss://; one that does not is refused")
    func wss() async throws {
        let directory = try TempDirectory()
        defer { directory.remove() }
        let (relay, trusting) = try await TestRelay.startTLS(in: directory)
        let port = relay.running.port
        #expect(relay.url == "wss://localhost:\(port)")

        let alice = Device(), bob = Device()
        let a = try await RelayClient.connect(url: relay.url, deviceKey: alice.key, tls: trusting,
                                              timeout: TestRelay.clientTimeout, requestTimeout: TestRelay.clientTimeout)
        let b = try await RelayClient.connect(url: relay.url, deviceKey: bob.key, tls: trusting,
                                              timeout: TestRelay.clientTimeout, requestTimeout: TestRelay.clientTimeout)
        try await a.send(Data("over tls".utf8), to: [bob.id])
        #expect(try await b.deliveries(1)[0].payload == Data("over tls".utf8))

        // The system's trust store does not know this certificate.
        await #expect(throws: (any Error).self) {
            let c = try await RelayClient.connect(url: relay.url, deviceKey: Device().key, tls: .makeClientConfiguration(),
                                                  timeout: TestRelay.clientTimeout)
            await c.close()
        }
        // An IP address cannot name a TLS server; the client says so before dialling.
        await #expect(throws: RelayClientError.tlsToAnIPAddress("wss://127.0.0.1:\(port)")) {
            _ = try await RelayClient.open(url: "wss://127.0.0.1:\(port)", tls: trusting)
        }
        await a.close(); await b.close()
        await relay.stop()
    }
}
