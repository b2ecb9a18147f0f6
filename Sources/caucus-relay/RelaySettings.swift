import ArgumentParser
import CaucusRelay
import Foundation

/// Where each of the daemon's settings comes from: the command line first, then the environment
/// variable the option's help names (`CAUCUS_RELAY_` and the option's name in capitals), then the
/// configuration file (`--config`, or CAUCUS_RELAY_CONFIG), then the default.
struct RelaySettings {
    /// Every long option of `caucus-relay` that a configuration file may set (all but `--config`,
    /// `--help` and `--version`). A test checks this list against the options `--help` shows.
    static let names: Set<String> = [
        "host", "port", "data-dir", "store", "store-connections", "store-connect-timeout", "delivery-catch-up-seconds",
        "public-address", "tls-cert", "tls-key", "max-frame-bytes", "max-payload-bytes", "mailbox-messages",
        "max-blob-bytes", "blob-quota-bytes", "ttl-days", "rate-limit", "rate-burst", "max-connections",
        "log-level", "log-format", "metrics-host", "metrics-port",
    ]
    /// The options that may be given several times.
    static let repeatable: Set<String> = ["public-address"]

    let environment: [String: String]
    let file: RelayConfigFile?

    /// Reads the configuration file `path` (else CAUCUS_RELAY_CONFIG), when either names one.
    init(configPath: String?, environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        self.environment = environment
        let path = configPath ?? environment["CAUCUS_RELAY_CONFIG"].flatMap { $0.isEmpty ? nil : $0 }
        do {
            file = try path.map { try RelayConfigFile.read($0, knownNames: Self.names, repeatable: Self.repeatable) }
        } catch {
            throw ValidationError("\(error)")
        }
    }

    /// The environment variable of option `name`: `data-dir` is CAUCUS_RELAY_DATA_DIR.
    static func variable(_ name: String) -> String {
        "CAUCUS_RELAY_" + name.uppercased().replacingOccurrences(of: "-", with: "_")
    }

    /// `given` (from the command line) when set, else the environment's value, else the file's.
    func value<T: LosslessStringConvertible>(_ given: T?, _ name: String) throws -> T? {
        if let given { return given }
        let variable = Self.variable(name)
        if let text = environment[variable], !text.isEmpty {
            guard let parsed = T(text) else { throw ValidationError("\(variable)=\(text) is not a valid value") }
            return parsed
        }
        if let file, let text = file.value(name) {
            guard let parsed = T(text) else { throw ValidationError("\(file.path): \(name) = \(text) is not a valid value") }
            return parsed
        }
        return nil
    }

    /// A repeatable option: the command line's values, else the environment's (comma-separated),
    /// else the file's lines.
    func values(_ given: [String], _ name: String) -> [String] {
        if !given.isEmpty { return given }
        if let text = environment[Self.variable(name)], !text.isEmpty {
            return text.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }
        }
        return file?.values[name] ?? []
    }

    /// Where relay.sqlite lives: `--data-dir`, CAUCUS_RELAY_DATA_DIR, the file's `data-dir`, or
    /// ./caucus-relay-data.
    func dataDirectory(_ given: String?) throws -> String {
        try value(given, "data-dir") ?? CaucusRelayCommand.defaultDataDirectory
    }
}
