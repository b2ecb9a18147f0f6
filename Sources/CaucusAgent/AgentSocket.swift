import CaucusClient
import CaucusIdentity
import Foundation

/// Where the agent of one identity listens: a Unix socket (mode 0600) in a directory of the
/// user's own (mode 0700), `$XDG_RUNTIME_DIR/caucus` or else `/tmp/caucus-UID`, named after the
/// identity's data directory (its full path, hashed), so that one agent serves one identity.
public enum AgentSocket {
    /// The socket's path for `home`.
    public static func path(for home: ClientHome, environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        let resolved = URL(fileURLWithPath: home.path).standardizedFileURL.resolvingSymlinksInPath().path
        // 16 bytes is a length BLAKE2b takes.
        let name = "agent-" + Hex.encode(try! BLAKE2b.hash(Array(resolved.utf8), outputByteCount: 16)) + ".sock"
        return (directory(environment: environment) as NSString).appendingPathComponent(name)
    }

    static func directory(environment: [String: String]) -> String {
        if let runtime = environment["XDG_RUNTIME_DIR"], runtime.hasPrefix("/") {
            return (runtime as NSString).appendingPathComponent("caucus")
        }
        return "/tmp/caucus-\(getuid())"
    }

    /// Creates the socket's directory if needed and checks that it is the user's own, private,
    /// and no symbolic link: another user who made it first could read or replace the socket.
    public static func prepareDirectory(of socketPath: String) throws(AgentError) {
        let directory = (socketPath as NSString).deletingLastPathComponent
        if mkdir(directory, 0o700) != 0, errno != EEXIST {
            throw AgentError.socket("cannot create \(directory): \(String(cString: strerror(errno)))")
        }
        var info = stat()
        guard lstat(directory, &info) == 0 else {
            throw AgentError.socket("cannot read \(directory): \(String(cString: strerror(errno)))")
        }
        guard info.st_mode & S_IFMT == S_IFDIR else { throw AgentError.socket("\(directory) is not a directory") }
        guard info.st_uid == getuid() else { throw AgentError.socket("\(directory) belongs to another user; remove it") }
        guard info.st_mode & 0o077 == 0 else {
            throw AgentError.socket("\(directory) may be read by other users (mode \(String(info.st_mode & 0o777, radix: 8))); make it 0700")
        }
    }
}

/// What went wrong with the agent.
public enum AgentError: Error, CustomStringConvertible, Sendable {
    /// The socket or its directory.
    case socket(String)
    /// No agent answers for this identity.
    case notRunning
    /// The agent answered with a JSON-RPC error.
    case remote(code: Int, message: String)
    /// The agent's answer was not JSON-RPC, or did not come in time.
    case protocolError(String)

    public var description: String {
        switch self {
        case .socket(let why): "agent socket: \(why)"
        case .notRunning: "no agent runs for this identity (start one with `caucus agent start`)"
        case .remote(let code, let message): "the agent refused (\(code)): \(message)"
        case .protocolError(let why): "the agent's answer: \(why)"
        }
    }
}
