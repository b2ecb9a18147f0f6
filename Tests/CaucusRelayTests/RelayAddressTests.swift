import CaucusProtocol
import Testing

/// Protocol.md §7.3's normalisation of relay addresses, with the section's own examples.
@Suite("Relay addresses are normalised as Protocol.md §7.3 says")
struct RelayAddressTests {
    @Test("Scheme and host lower-cased, the default port, path, query and user information dropped")
    func ordinaryAddresses() {
        let cases: [(String, String?)] = [
            ("WS://Relay.Example.org:80/", "ws://relay.example.org"),
            ("ws://h:080", "ws://h"),
            ("wss://relay.example.org:443/v1/ws?x=1#top", "wss://relay.example.org"),
            ("wss://relay.example.org:8443", "wss://relay.example.org:8443"),
            ("ws://user:secret@relay.example.org/", "ws://relay.example.org"),
            ("http://relay.example.org", nil),
            ("ws://", nil),
            ("relay.example.org", nil),
        ]
        for (text, expected) in cases {
            #expect(RelayProtocol.normalizedAddress(text) == expected, "\(text)")
        }
    }

    @Test("IPv6 literals keep their brackets and text, lower-cased; a zone is percent-decoded")
    func ipv6Literals() {
        #expect(RelayProtocol.normalizedAddress("WS://[2001:DB8::1]:80/") == "ws://[2001:db8::1]")
        #expect(RelayProtocol.normalizedAddress("ws://[0:0:0:0:0:0:0:1]") == "ws://[0:0:0:0:0:0:0:1]")
        #expect(RelayProtocol.normalizedAddress("ws://[::1]") == "ws://[::1]")
        #expect(RelayProtocol.normalizedAddress("ws://[fe80::1%25eth0]") == "ws://[fe80::1%eth0]")
    }

    @Test("A host is percent-decoded and IDNA-decoded before it is lower-cased")
    func internationalHosts() {
        #expect(RelayProtocol.normalizedAddress("wss://xn--bcher-kva.example") == "wss://bücher.example")
        #expect(RelayProtocol.normalizedAddress("wss://BÜCHER.example") == "wss://bücher.example")
        #expect(RelayProtocol.normalizedAddress("wss://b%C3%BCcher.example") == "wss://bücher.example")
    }
}
