import CaucusClient
import CaucusLock
import Foundation
import NIOCore
import NIOPosix

/// The unlocked account of one identity, kept in a process of its own (like ssh-agent) and
/// reached over a Unix socket that only the user can open. It speaks JSON-RPC 2.0, one request or
/// response per line (README "The agent"): commands of `caucus` go through it when it runs
/// (method `cli.run`, given by the `caucus` program), and bots call its methods. It never holds
/// the passphrase; it locks (closes the account and exits) after `idleLock` without requests, on
/// `lock`, or when stopped.
public final class AgentServer: Sendable {
    /// A method: its params (nil when the request had none), the connection it came on.
    public typealias Method = @Sendable (_ params: JSONValue?, _ connection: AgentConnection) async throws -> JSONValue

    /// The longest request line taken; a longer one closes the connection.
    public static let maxLineBytes = 4 << 20

    private struct State {
        var channel: (any Channel)?
        var connections: [ObjectIdentifier: AgentConnection] = [:]
        var subscribers: [ObjectIdentifier: AgentConnection] = [:]
        var running = 0
        var lastActivity = ContinuousClock.now
        var stopped = false
        var stopWaiters: [CheckedContinuation<Void, Never>] = []
        var listening: Task<Void, Never>?
    }

    public let account: Account
    public let socketPath: String
    /// Without requests (and with no subscriber) for this long, the agent locks; nil: never.
    public let idleLock: Duration?
    private let state = Locked(State())
    private let methods: Locked<[String: Method]> = Locked([:])

    public init(account: Account, socketPath: String, idleLock: Duration?) {
        self.account = account
        self.socketPath = socketPath
        self.idleLock = idleLock
        registerStandardMethods()
    }

    /// Adds or replaces a method.
    public func register(_ name: String, _ method: @escaping Method) {
        methods.withLock { $0[name] = method }
    }

    // MARK: Running

    /// Listens on the socket (mode 0600, in a private directory) and calls `ready` once it does.
    /// Returns once the agent locked; the account is closed then and the socket removed.
    public func run(ready: @Sendable () -> Void = {}) async throws {
        try AgentSocket.prepareDirectory(of: socketPath)
        // A socket left by an agent that died: nothing answers on it.
        if FileManager.default.fileExists(atPath: socketPath) {
            if (try? await AgentClient.isRunning(socketPath: socketPath)) == true {
                throw AgentError.socket("an agent already runs for this identity on \(socketPath)")
            }
            unlink(socketPath)
        }
        // Made with no permission for anyone else before it exists on disk.
        let previous = umask(0o177)
        let channel: any Channel
        do {
            channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let connection = AgentConnection(channel: channel)
                        try channel.pipeline.syncOperations.addHandler(AgentLineHandler(server: self, connection: connection))
                    }
                }
                .bind(unixDomainSocketPath: socketPath)
                .get()
        } catch {
            umask(previous)
            throw AgentError.socket("cannot listen on \(socketPath): \(error)")
        }
        umask(previous)
        chmod(socketPath, 0o600)
        state.withLock { $0.channel = channel }
        if let idleLock { startIdleTimer(idleLock) }
        ready()
        await withCheckedContinuation { continuation in
            let stopped = state.withLock { state -> Bool in
                if state.stopped { return true }
                state.stopWaiters.append(continuation)
                return false
            }
            if stopped { continuation.resume() }
        }
        try? await channel.close()
        unlink(socketPath)
        let connections = state.withLock { state in
            defer { state.connections = [:]; state.subscribers = [:] }
            return Array(state.connections.values)
        }
        for connection in connections { connection.close() }
        state.withLock { $0.listening?.cancel() }
        await account.close()
    }

    /// Locks: stops listening, closes every connection and the account.
    public func lock() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.stopped = true
            defer { state.stopWaiters = [] }
            return state.stopWaiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Locks once `idle` has passed with no request running, none arriving and no subscriber.
    private func startIdleTimer(_ idle: Duration) {
        Task { [weak self] in
            while let self {
                let (deadline, busy, stopped) = self.state.withLock {
                    ($0.lastActivity + idle, $0.running > 0 || !$0.subscribers.isEmpty, $0.stopped)
                }
                if stopped { return }
                if !busy, ContinuousClock.now >= deadline { return self.lock() }
                // Sleeps to the deadline as it stands; each request moves it, and the next turn
                // sleeps to where it moved.
                try? await Task.sleep(until: busy ? ContinuousClock.now + idle : deadline)
            }
        }
    }

    // MARK: Requests

    func opened(_ connection: AgentConnection) {
        state.withLock { $0.connections[ObjectIdentifier(connection)] = connection }
    }

    func closed(_ connection: AgentConnection) {
        state.withLock {
            $0.connections[ObjectIdentifier(connection)] = nil
            $0.subscribers[ObjectIdentifier(connection)] = nil
            $0.lastActivity = .now
        }
    }

    /// Answers one request line; nil for a notification (a request without an id).
    func handle(_ line: Data, on connection: AgentConnection) async -> String? {
        state.withLock {
            $0.running += 1
            $0.lastActivity = .now
        }
        defer {
            state.withLock {
                $0.running -= 1
                $0.lastActivity = .now
            }
        }
        guard let request = JSONValue.parse(line) else {
            return Self.error(id: .null, code: -32700, message: "the line is not JSON")
        }
        guard case .object(let fields) = request, fields["jsonrpc"]?.string == "2.0", let name = fields["method"]?.string else {
            return Self.error(id: request["id"] ?? .null, code: -32600, message: "not a JSON-RPC 2.0 request (jsonrpc \"2.0\" and method)")
        }
        let id = fields["id"]
        if let id, !Self.isValidID(id) {
            return Self.error(id: .null, code: -32600, message: "id must be a string, a number or null")
        }
        let params = fields["params"]
        if let params {
            switch params {
            case .object, .array: break
            default: return Self.error(id: id ?? .null, code: -32600, message: "params must be an object or an array")
            }
        }
        guard let method = methods.withLock({ $0[name] }) else {
            return id.map { Self.error(id: $0, code: -32601, message: "no method \(name)") }
        }
        do {
            let result = try await method(params, connection)
            return id.map { JSONValue.object(["jsonrpc": "2.0", "id": $0, "result": result]).line() }
        } catch let error as AgentMethodError {
            return id.map { Self.error(id: $0, code: error.code, message: error.message) }
        } catch {
            return id.map { Self.error(id: $0, code: AgentMethodError.failed, message: "\(error)") }
        }
    }

    private static func isValidID(_ id: JSONValue) -> Bool {
        switch id {
        case .string, .int, .double, .null: true
        default: false
        }
    }

    static func error(id: JSONValue, code: Int, message: String) -> String {
        JSONValue.object(["jsonrpc": "2.0", "id": id, "error": .object(["code": .int(code), "message": .string(message)])]).line()
    }

    // MARK: Subscriptions

    /// Sends every message the account takes in from now on to `connection`, as `message`
    /// notifications, and keeps the relay connection open for them.
    func subscribe(_ connection: AgentConnection) {
        let first = state.withLock { state -> Bool in
            state.subscribers[ObjectIdentifier(connection)] = connection
            guard state.listening == nil else { return false }
            state.listening = Task { await self.account.stayConnected() }
            return true
        }
        guard first else { return }
        let account = self.account
        Task {
            await account.observe { [weak self] event in
                guard let self, case .message(let view) = event, let params = JSONValue(any: view.json) else { return }
                let line = JSONValue.object(["jsonrpc": "2.0", "method": "message", "params": params]).line()
                for subscriber in self.state.withLock({ Array($0.subscribers.values) }) { subscriber.send(line) }
            }
        }
    }
}

/// A JSON-RPC error a method chose: its code and message.
public struct AgentMethodError: Error, Sendable {
    public let code: Int
    public let message: String

    /// Invalid params (JSON-RPC's own code).
    public static let invalidParams = -32602
    /// The account refused or failed (the message says why).
    public static let failed = -32000

    public init(_ code: Int, _ message: String) {
        self.code = code
        self.message = message
    }

    public static func invalid(_ message: String) -> AgentMethodError { AgentMethodError(invalidParams, message) }
}

/// One client of the agent.
public final class AgentConnection: Sendable {
    private let channel: any Channel
    /// What runs once the next answer has been written.
    private let afterAnswer = Locked<[@Sendable () -> Void]>([])

    init(channel: any Channel) {
        self.channel = channel
    }

    /// Writes one line to the client.
    func send(_ line: String) {
        channel.writeAndFlush(Self.buffer(line, channel.allocator), promise: nil)
    }

    /// Writes the answer to a request (nil: a notification, which has none), then runs what the
    /// request asked to run after it (`afterAnswering`), such as locking the agent.
    func answer(_ line: String?) {
        let actions = afterAnswer.withLock { actions in
            defer { actions = [] }
            return actions
        }
        guard let line else { return actions.forEach { $0() } }
        channel.writeAndFlush(Self.buffer(line, channel.allocator)).whenComplete { _ in actions.forEach { $0() } }
    }

    /// Runs `action` once the answer to the request being handled is written.
    func afterAnswering(_ action: @escaping @Sendable () -> Void) {
        afterAnswer.withLock { $0.append(action) }
    }

    private static func buffer(_ line: String, _ allocator: ByteBufferAllocator) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: line.utf8.count + 1)
        buffer.writeString(line)
        buffer.writeInteger(UInt8(ascii: "\n"))
        return buffer
    }

    func close() {
        channel.close(promise: nil)
    }
}

/// Splits what a client sends into lines and answers each.
final class AgentLineHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer

    private let server: AgentServer
    private let connection: AgentConnection
    private let pending = Locked(ByteBuffer())

    init(server: AgentServer, connection: AgentConnection) {
        self.server = server
        self.connection = connection
    }

    func channelActive(context: ChannelHandlerContext) {
        server.opened(connection)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        server.closed(connection)
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        let (lines, tooLong) = pending.withLock { buffer -> ([Data], Bool) in
            buffer.writeBuffer(&incoming)
            var lines: [Data] = []
            while let end = buffer.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) {
                guard end - buffer.readerIndex <= AgentServer.maxLineBytes else { return (lines, true) }
                let line = Data(buffer.readBytes(length: end - buffer.readerIndex) ?? [])
                buffer.moveReaderIndex(forwardBy: 1)
                if !line.isEmpty { lines.append(line) }
            }
            buffer.discardReadBytes()
            return (lines, buffer.readableBytes > AgentServer.maxLineBytes)
        }
        for line in lines {
            let server = self.server, connection = self.connection
            Task {
                connection.answer(await server.handle(line, on: connection))
            }
        }
        if tooLong {
            pending.withLock { $0.clear() }
            connection.send(AgentServer.error(id: .null, code: -32600, message: "a request line may hold at most \(AgentServer.maxLineBytes) bytes"))
            connection.close()
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
