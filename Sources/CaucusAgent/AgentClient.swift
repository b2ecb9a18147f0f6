import CaucusLock
import Foundation

/// One call to an agent over its socket: connect, write the request line, read the answer line.
/// Blocking socket calls, run off Swift's cooperative pool, each bounded.
public enum AgentClient {
    /// How long an answer may take: a command the agent runs may wait for the relay
    /// (`CAUCUS_REQUEST_TIMEOUT`, 15 s by default, several times over).
    public static let answerTimeout: Duration = .seconds(300)

    /// Calls `method` and returns its result; `AgentError.notRunning` when nothing listens.
    public static func call(socketPath: String, method: String, params: JSONValue? = nil,
                            timeout: Duration = answerTimeout) async throws(AgentError) -> JSONValue {
        var request: [String: JSONValue] = ["jsonrpc": "2.0", "id": 1, "method": .string(method)]
        if let params { request["params"] = params }
        let line = JSONValue.object(request).line()
        let answer = try await offCooperativePool { () throws(AgentError) -> Data in
            try exchange(socketPath: socketPath, line: line, timeout: timeout)
        }
        guard let response = JSONValue.parse(answer) else { throw AgentError.protocolError("not JSON") }
        if let error = response["error"] {
            throw AgentError.remote(code: error["code"]?.int ?? 0, message: error["message"]?.string ?? "")
        }
        guard let result = response["result"] else { throw AgentError.protocolError("no result and no error") }
        return result
    }

    /// Whether an agent answers on `socketPath`.
    public static func isRunning(socketPath: String) async throws(AgentError) -> Bool {
        do {
            _ = try await call(socketPath: socketPath, method: "status", timeout: .seconds(10))
            return true
        } catch .notRunning {
            return false
        }
    }

    private static func exchange(socketPath: String, line: String, timeout: Duration) throws(AgentError) -> Data {
        let socket = Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard socket >= 0 else { throw AgentError.socket("socket(): \(String(cString: strerror(errno)))") }
        defer { Glibc.close(socket) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(socketPath.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { throw AgentError.socket("the socket's path is too long: \(socketPath)") }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let connected = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(socket, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else {
            if errno == ENOENT || errno == ECONNREFUSED { throw AgentError.notRunning }
            throw AgentError.socket("connect to \(socketPath): \(String(cString: strerror(errno)))")
        }
        let seconds = timeout.components.seconds
        var bound = timeval(tv_sec: Int(seconds), tv_usec: 0)
        setsockopt(socket, SOL_SOCKET, SO_RCVTIMEO, &bound, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(socket, SOL_SOCKET, SO_SNDTIMEO, &bound, socklen_t(MemoryLayout<timeval>.size))
        let request = Array((line + "\n").utf8)
        var sent = 0
        while sent < request.count {
            let count = request[sent...].withUnsafeBytes { Glibc.send(socket, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard count > 0 else { throw AgentError.socket("writing to the agent: \(String(cString: strerror(errno)))") }
            sent += count
        }
        var answer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = chunk.withUnsafeMutableBytes { Glibc.recv(socket, $0.baseAddress, $0.count, 0) }
            if count < 0 {
                if errno == EAGAIN || errno == EWOULDBLOCK { throw AgentError.protocolError("no answer within \(seconds) s") }
                throw AgentError.socket("reading from the agent: \(String(cString: strerror(errno)))")
            }
            if count == 0 { throw AgentError.protocolError("the agent closed the connection before answering") }
            if let end = chunk[..<count].firstIndex(of: UInt8(ascii: "\n")) {
                answer += chunk[..<end]
                return Data(answer)
            }
            answer += chunk[..<count]
            guard answer.count <= AgentServer.maxLineBytes * 4 else { throw AgentError.protocolError("the answer is too long") }
        }
    }
}
