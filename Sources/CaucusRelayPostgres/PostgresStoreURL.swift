import Foundation

/// A `postgres://user:password@host:port/database?sslmode=…` URL, checked when the relay starts.
/// `description` never shows the password.
public struct PostgresStoreURL: Sendable, CustomStringConvertible {
    /// How the connection uses TLS (`sslmode`): `disable`, `prefer` (the default) or `require`.
    public enum TLSMode: String, Sendable {
        case disable, prefer, require
    }

    public var host: String
    public var port: Int
    public var username: String
    public var password: String?
    public var database: String
    public var tls: TLSMode

    /// Parses `text`; throws a `PostgresStoreError.badURL` that names what is wrong (and shows no password).
    public init(_ text: String) throws(PostgresStoreError) {
        guard let url = URLComponents(string: text), let scheme = url.scheme?.lowercased() else {
            throw .badURL("\(Self.redact(text)) is not a URL; expected postgres://user:password@host:port/database")
        }
        guard scheme == "postgres" || scheme == "postgresql" else {
            throw .badURL("\(Self.redact(text)) is not a postgres:// URL")
        }
        guard let host = url.host, !host.isEmpty else { throw .badURL("\(Self.redact(text)) names no host") }
        guard let user = url.user, !user.isEmpty else { throw .badURL("\(Self.redact(text)) names no user") }
        let name = String(url.path.drop(while: { $0 == "/" }))
        guard !name.isEmpty, !name.contains("/") else {
            throw .badURL("\(Self.redact(text)) names no database (postgres://user@host/database)")
        }
        var tls = TLSMode.prefer
        for item in url.queryItems ?? [] {
            switch item.name {
            case "sslmode":
                guard let value = item.value, let mode = TLSMode(rawValue: value) else {
                    throw .badURL("sslmode must be disable, prefer or require, not \(item.value ?? "empty")")
                }
                tls = mode
            default:
                throw .badURL("unknown parameter \(item.name) in the store URL (only sslmode is understood)")
            }
        }
        self.host = host.hasPrefix("[") ? String(host.dropFirst().dropLast()) : host
        self.port = url.port ?? 5432
        self.username = user.removingPercentEncoding ?? user
        self.password = url.password.map { $0.removingPercentEncoding ?? $0 }
        self.database = name.removingPercentEncoding ?? name
        self.tls = tls
    }

    /// Whether `text` asks for this store (a postgres:// or postgresql:// URL).
    public static func isPostgres(_ text: String) -> Bool {
        let lower = text.lowercased()
        return lower.hasPrefix("postgres://") || lower.hasPrefix("postgresql://")
    }

    /// The URL with the password replaced by `***`.
    public var description: String {
        let shownHost = host.contains(":") ? "[\(host)]" : host
        return "postgres://\(username)\(password == nil ? "" : ":***")@\(shownHost):\(port)/\(database)"
            + (tls == .prefer ? "" : "?sslmode=\(tls.rawValue)")
    }

    /// `text` with anything between `://user:` and `@` replaced by `***`, for errors about a URL
    /// that did not parse.
    static func redact(_ text: String) -> String {
        guard let scheme = text.range(of: "://"), let at = text[scheme.upperBound...].lastIndex(of: "@") else { return text }
        let userInfo = text[scheme.upperBound..<at]
        guard let colon = userInfo.firstIndex(of: ":") else { return text }
        return String(text[..<colon]) + ":***" + String(text[at...])
    }
}

/// Why the PostgreSQL store could not start or answer. Descriptions never hold the password.
public enum PostgresStoreError: Error, CustomStringConvertible, Sendable {
    /// The `--store` URL is not one the store can use.
    case badURL(String)
    /// The database could not be reached or refused the connection when the relay started.
    case unreachable(String)
    /// No pooled connection came within the time allowed (the database has gone away).
    case timedOut(Duration)
    /// The database did not answer a request within the time allowed, once it had a connection.
    case noAnswer(Duration)
    /// The database holds a schema newer than this relay knows.
    case schemaTooNew(found: Int, known: Int)

    public var description: String {
        switch self {
        case .badURL(let text): "bad store URL: \(text)"
        case .unreachable(let text): "cannot use the PostgreSQL store: \(text)"
        case .timedOut(let wait): "no connection to PostgreSQL within \(wait)"
        case .noAnswer(let wait): "PostgreSQL did not answer within \(wait)"
        case .schemaTooNew(let found, let known):
            "the database has schema version \(found) but this relay knows versions up to \(known): upgrade the relay"
        }
    }
}
