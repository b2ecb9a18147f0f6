import Foundation

/// A SOCKS5 proxy every relay connection goes through (Tor's is `socks5h://127.0.0.1:9050`).
/// The relay's host name is always given to the proxy to resolve, `.onion` names included: the
/// client itself looks nothing up, so no DNS query leaves the worker's machine.
public struct SOCKSProxy: Sendable, Equatable, CustomStringConvertible {
    public let host: String
    public let port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Reads `socks5h://HOST:PORT` (or `socks5://`, which caucus treats the same way: names are
    /// resolved by the proxy either way). The port is required; nothing else may follow it.
    public init(parsing text: String) throws(SOCKSProxyError) {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard let components = URLComponents(string: trimmed),
              let scheme = components.scheme?.lowercased(), scheme == "socks5h" || scheme == "socks5"
        else { throw SOCKSProxyError(text: text, reason: "it must start with socks5h:// (for example socks5h://127.0.0.1:9050)") }
        // URLComponents keeps an IPv6 address in its brackets; the bare address is what is dialled.
        guard let named = components.host, case let host = named.trimmingCharacters(in: CharacterSet(charactersIn: "[]")), !host.isEmpty
        else { throw SOCKSProxyError(text: text, reason: "it names no host") }
        guard let port = components.port, (1...65_535).contains(port) else {
            throw SOCKSProxyError(text: text, reason: "it needs a port from 1 to 65535 (Tor's is 9050)")
        }
        guard components.user == nil, components.password == nil, components.path.isEmpty || components.path == "/",
              components.query == nil, components.fragment == nil
        else { throw SOCKSProxyError(text: text, reason: "only socks5h://HOST:PORT is understood (no user, path or query)") }
        self.init(host: host, port: port)
    }

    public var description: String {
        "socks5h://\(host.contains(":") ? "[\(host)]" : host):\(port)"
    }
}

/// A proxy address that cannot be used.
public struct SOCKSProxyError: Error, Sendable, Equatable, CustomStringConvertible {
    public let text: String
    public let reason: String
    public var description: String { "cannot use the proxy \(text): \(reason)" }
}
