import CaucusClientStore
import CaucusCrypto
import CaucusKeystore
import CaucusLock
import CaucusProtocol
import CaucusRelayClient
import Foundation
import NIOSSL

/// One identity on this device: its keys, its encrypted store and its relay connection. Every
/// `caucus` command opens an account, does its work through it and closes it; `caucus chat` keeps
/// one open. State is saved after every step, so a crash never loses or repeats a message.
public actor Account {
    /// Runs this account's work off the cooperative pool (`AccountExecutor`).
    private nonisolated let executor = AccountExecutor()
    public nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }
    /// The data directory.
    public nonisolated let home: ClientHome
    let identity: Ed25519.PrivateKey
    /// This computer's device key (Protocol.md §2.2): the identity key on the identity's first
    /// device, a key of its own on a device linked later (kept sealed in the store).
    let device: Ed25519.PrivateKey
    let store: ClientStore
    /// This identity's public name.
    public nonisolated let did: DID
    /// Trust settings for wss:// relays (nil: the system's trust roots).
    let tls: TLSConfiguration?
    /// How long the relay is waited for (Protocol.md §7.13).
    var relayTimeouts = RelayTimeouts.standard
    /// Sets how long the relay is waited for, from the next connection on.
    public func setRelayTimeouts(_ timeouts: RelayTimeouts) { relayTimeouts = timeouts }
    /// A SOCKS5 proxy for every relay, whatever is kept with each (`--proxy`, `CAUCUS_PROXY`).
    var proxyForAll: SOCKSProxy?
    /// Sends every relay connection through the SOCKS5 proxy `text` (`socks5h://HOST:PORT`); nil
    /// or empty: each relay's own. An open connection made another way is closed first, so that
    /// nothing more goes over it.
    public func setProxyForAll(_ text: String?) async throws(ClientError) {
        let proxy = try Self.proxy(text)
        guard proxy != proxyForAll else { return }
        proxyForAll = proxy
        if connection != nil { await close() }
    }

    /// The proxy `text` names (nil for nil or empty); an unreadable one is refused.
    public static func proxy(_ text: String?) throws(ClientError) -> SOCKSProxy? {
        guard let text, !text.isEmpty else { return nil }
        do { return try SOCKSProxy(parsing: text) } catch { throw ClientError.invalidArgument("\(error)") }
    }

    var connection: RelayClient?
    var connecting: Task<Result<RelayClient, ClientError>, Never>?
    /// The companion of the open connection, which posts cards (Account+CardPosts): the
    /// connection, whether it made its request yet, the last of the steps run on it in turn, and
    /// why the last one failed, if it did.
    var companionClient: RelayClient?
    var companionUsed = false
    var companion: Task<Void, Never>?
    var companionFailure: String?
    var pushTask: Task<Void, Never>?
    var handled = 0
    /// Deliveries this connection pushed that could not be stored (so were not acknowledged), and
    /// when the first of them came. The relay pushes them again only on a new connection.
    var unstored = 0
    /// A delivery this connection pushed could not be stored: later ones are left to the next
    /// connection too, which pushes them again after it, in order.
    var storeFailed = false
    var unstoredSince: ContinuousClock.Instant?
    /// How long a connection that could not store a delivery stays up before it is replaced, so
    /// that the relay pushes what it holds again (`stayConnected`).
    var retryUnstoredAfter: Duration = .seconds(10)
    func setRetryUnstoredAfter(_ wait: Duration) { retryUnstoredAfter = wait }
    var flushing = false
    /// Why the last flush of the outbox stopped early (the relay did not answer, the connection
    /// closed), naming the relay; nil when it ran to the end.
    var outboxHalt: String?
    /// Queued route changes the relay refused, by outbox id, with its reason (§9.10).
    var routeRefusals: [Data: String] = [:]
    /// Queued messages the relay refused, by message id, with its reason (§9.6).
    var sendRefusals: [MessageID: String] = [:]
    /// Deliveries being stored (`handle`).
    var receiving = 0
    /// Those in `waitForChange`, each with the timer that ends its wait, if any.
    var changeWaiters: [Int: (continuation: CheckedContinuation<Void, Never>, timer: Task<Void, Never>?)] = [:]
    var nextChangeWaiter = 0
    /// The connection whose `QueueEmpty` has been handled, the one whose pushes ended, and the
    /// commands waiting for either (`waitForBacklog`).
    var queueEmptyOn: RelayClient?
    var pushesEndedOn: RelayClient?
    var backlogWaiters: [Int: (client: RelayClient, continuation: CheckedContinuation<Void, Never>)] = [:]
    var nextBacklogWaiter = 0
    /// Ids of stored deliveries whose acknowledgement is not sent yet, and the task sending them
    /// while one runs: what is stored while an `AckMessages` waits for its reply goes in the next.
    var unacknowledged: [MessageID] = []
    var acknowledging: Task<Void, Never>?
    /// Problems met while receiving that belong to no conversation, for the command to print.
    public internal(set) var problems: [String] = []
    /// The problems noted so far, which are then forgotten (an agent's account outlives commands).
    public func takeProblems() -> [String] {
        defer { problems = [] }
        return problems
    }
    var observer: (@Sendable (AccountEvent) -> Void)?
    /// Lines added by the transaction in progress, told to the observer once it commits.
    nonisolated let pendingLines = Locked<[MessageView]>([])
    /// Problems noticed inside a transaction (`noteLater`), told once it commits.
    nonisolated let pendingNotes = Locked<[String]>([])
    /// Set when a session start could not be opened and its sender is to be asked to send again.
    nonisolated let resendWanted = Locked(false)
    /// People this user let into a group since the account was opened, as sentences naming them, the
    /// group and the invite ("admitted Tomasz (z6Mk…) to Warehouse 5 with invite 1a2b3c4d").
    public internal(set) var admissions: [String] = []
    /// Admissions made inside a transaction, added to `admissions` once it commits.
    nonisolated let pendingAdmissions = Locked<[String]>([])
    /// Everyone this user knows by name, while no contact changes (`people`).
    nonisolated let peopleCache = Locked<People?>(nil)

    /// How many one-time prekeys are kept on the relay, and when to top up.
    /// How long the ids of stored deliveries gather before an `AckMessages` carries them, unless
    /// `ackBatchTarget` of them are waiting already (Protocol.md §9.6).
    static let ackGathering = Duration.milliseconds(50)
    static let ackBatchTarget = 100
    /// How long `sync` and `close` wait for acknowledgements in flight.
    static let ackWaitLimit = Duration.seconds(10)
    static let prekeyBatch = 50
    /// One-time ML-KEM prekeys made at a time (1,252 bytes each on the relay, against 36 for an
    /// X25519 one); when they run out, session starts use the last-resort KEM prekey.
    static let kemPrekeyBatch = 20
    static let prekeyLowWater = 10

    init(home: ClientHome, identity: Ed25519.PrivateKey, device: Ed25519.PrivateKey? = nil, store: ClientStore,
                 tls: TLSConfiguration?) {
        self.home = home
        self.identity = identity
        self.device = device ?? identity
        self.store = store
        self.tls = tls
        did = DID(publicKey: identity.publicKey)
    }

    /// Makes a new identity in `home`, sealed under `passphrase`, with a display name. A passphrase
    /// below the strength floor is refused unless `allowWeakPassphrase`.
    public static func create(
        home: ClientHome, passphrase: Passphrase, displayName: String,
        parameters: Argon2id.Parameters = .moderate, tls: TLSConfiguration? = nil, allowWeakPassphrase: Bool = false
    ) async throws(ClientError) -> Account {
        try await offCooperativePool { () throws(ClientError) -> Account in
            try createBlocking(home: home, passphrase: passphrase, displayName: displayName, parameters: parameters, tls: tls,
                               allowWeakPassphrase: allowWeakPassphrase)
        }
    }

    private static func createBlocking(
        home: ClientHome, passphrase: Passphrase, displayName: String,
        parameters: Argon2id.Parameters, tls: TLSConfiguration?, allowWeakPassphrase: Bool
    ) throws(ClientError) -> Account {
        let keystore = Keystore(path: home.keystorePath)
        guard !keystore.exists else { throw ClientError.identityExists(home: home.path) }
        try checkStrength(of: passphrase, allowWeak: allowWeakPassphrase)
        try validate(displayName: displayName)
        try home.create()
        let identity = Ed25519.PrivateKey()
        do { try keystore.create(identity, passphrase: passphrase, parameters: parameters) } catch {
            throw ClientError.keystore("\(error)")
        }
        let store = try openStore(home: home, identity: identity)
        let account = Account(home: home, identity: identity, store: store, tls: tls)
        try clientErrors(store) {
            try store.write { tx in
                try account.setMeta(tx, "name", Array(displayName.utf8))
                try account.makeSignedPrekey(tx)
            }
        }
        return account
    }

    /// Opens the identity in `home` with `passphrase`. A wrong passphrase changes nothing.
    public static func open(home: ClientHome, passphrase: Passphrase, tls: TLSConfiguration? = nil) async throws(ClientError) -> Account {
        try await offCooperativePool { () throws(ClientError) -> Account in try openBlocking(home: home, passphrase: passphrase, tls: tls) }
    }

    private static func openBlocking(home: ClientHome, passphrase: Passphrase, tls: TLSConfiguration?) throws(ClientError) -> Account {
        let keystore = Keystore(path: home.keystorePath)
        guard keystore.exists else { throw ClientError.noIdentity(home: home.path) }
        let identity: Ed25519.PrivateKey
        do { identity = try keystore.load(passphrase: passphrase) } catch KeystoreError.wrongPassphrase {
            throw ClientError.wrongPassphrase
        } catch {
            throw ClientError.keystore("\(error)")
        }
        let store = try openStore(home: home, identity: identity)
        let device = try clientErrors(store) { try store.read { tx in try Self.deviceKey(tx) } }
        let account = Account(home: home, identity: identity, device: device, store: store, tls: tls)
        try account.pruneExpired()
        return account
    }

    static func openStore(home: ClientHome, identity: Ed25519.PrivateKey) throws(ClientError) -> ClientStore {
        do { return try ClientStore(path: home.storePath, identity: identity) } catch { throw ClientError(error) }
    }

    /// Closes the relay connection.
    public func close() async {
        // Let a delivery being stored finish and be acknowledged first, for at most 2 s.
        let deadline = ContinuousClock.now + .seconds(2)
        while receiving > 0, ContinuousClock.now < deadline { await waitForChange(until: deadline) }
        await waitForAcknowledgements()
        pushTask?.cancel()
        pushTask = nil
        await closeCompanion()
        if let connection { await connection.close() }
        connection = nil
    }

    /// Receives every `AccountEvent` from now on (the chat screen).
    public func observe(_ handler: @escaping @Sendable (AccountEvent) -> Void) {
        observer = handler
    }

    /// Runs `body` in one write transaction; on success the lines it added reach the observer.
    @discardableResult
    func write<T>(_ body: (StoreTransaction) throws -> T) throws(ClientError) -> T {
        do {
            let result = try Self.clientErrors(store) { try store.write(body) }
            let lines = pendingLines.withLock { lines in defer { lines = [] }; return lines }
            if let observer { for line in lines { observer(.message(line)) } }
            for text in pendingNotes.withLock({ notes in defer { notes = [] }; return notes }) { note(text) }
            admissions += pendingAdmissions.withLock { admitted in defer { admitted = [] }; return admitted }
            return result
        } catch {
            pendingLines.withLock { $0 = [] }
            pendingNotes.withLock { $0 = [] }
            pendingAdmissions.withLock { $0 = [] }
            forgetPeople()
            throw error
        }
    }

    func read<T>(_ body: (StoreTransaction) throws -> T) throws(ClientError) -> T {
        try Self.clientErrors(store) { try store.read(body) }
    }

    /// Runs a store operation; what it throws comes out as a `ClientError` (an error that is
    /// neither the store's nor the client's means the store holds something it should not).
    static func clientErrors<T>(_ store: ClientStore, _ body: () throws -> T) throws(ClientError) -> T {
        do { return try body() } catch let error as ClientError { throw error } catch let error as StoreError {
            throw ClientError(error)
        } catch {
            throw ClientError.damagedStore(path: store.path, reason: "\(error)")
        }
    }

    // MARK: Profile

    /// The user's self-chosen display name.
    public func displayName() throws(ClientError) -> String {
        try read { tx in try myName(tx) }
    }

    static func validate(displayName: String) throws(ClientError) {
        let trimmed = displayName.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty, trimmed.count <= 64, !trimmed.contains(where: \.isNewline) else {
            throw ClientError.invalidArgument("a display name is 1 to 64 characters on one line")
        }
        guard !trimmed.hasPrefix("did:") else { throw ClientError.invalidArgument("a display name may not start with did:") }
    }

    // MARK: Relays

    /// The relays this account uses, first one preferred.
    public func relays() throws(ClientError) -> [String] {
        try read { tx in try tx.relays() }
    }

    /// Adds a relay after checking its address, and returns it as stored (normalised); the first
    /// added is the one used. `caFile`, a CA certificate (PEM) for a wss:// relay, is kept with it
    /// and trusted whenever it is dialled (Protocol.md §9.9).
    @discardableResult
    public func addRelay(_ url: String, caFile: String? = nil, proxy: String? = nil) throws(ClientError) -> String {
        let proxy = try Self.proxy(proxy)
        let normalized = try Self.normalizedRelay(url)
        let ca = try caFile.map { path throws(ClientError) -> String in
            let absolute = URL(fileURLWithPath: path).standardizedFileURL.path
            guard FileManager.default.isReadableFile(atPath: absolute) else {
                throw ClientError.invalidArgument("cannot read the CA certificate \(absolute)")
            }
            return absolute
        }
        try write { tx in try tx.addRelay(normalized, caFile: ca, proxy: proxy?.description) }
        return normalized
    }

    /// The SOCKS5 proxy connections to `url` go through: the one for all (`--proxy`,
    /// `CAUCUS_PROXY`), else the one kept with the relay, else none. A kept proxy that cannot be
    /// read is an error, never a reason to connect directly.
    func proxy(for url: String) throws(ClientError) -> SOCKSProxy? {
        if let proxyForAll { return proxyForAll }
        return try Self.proxy(try read { tx in try tx.proxy(of: url) })
    }

    /// The SOCKS5 proxies kept with the relays, by relay.
    public func relayProxies() throws(ClientError) -> [String: String] {
        try read { tx in
            var proxies: [String: String] = [:]
            for url in try tx.relays() { if let proxy = try tx.proxy(of: url) { proxies[url] = proxy } }
            return proxies
        }
    }

    /// Removes a relay; the next one, if any, is used from then on.
    public func removeRelay(_ url: String) throws(ClientError) {
        // Any address, even one that could never work (a wss:// to an IP added by an older caucus).
        guard let normalized = RelayProtocol.normalizedAddress(url) else {
            throw ClientError.invalidArgument("\(url) is not one of your relays (see `caucus relay list`)")
        }
        let removed = try write { tx in try tx.removeRelay(normalized) }
        guard removed else { throw ClientError.invalidArgument("\(url) is not one of your relays (see `caucus relay list`)") }
    }

    /// Makes a relay already added the one used.
    public func useRelay(_ url: String) throws(ClientError) {
        let normalized = try Self.normalizedRelay(url)
        let moved = try write { tx in try tx.preferRelay(normalized) }
        guard moved else { throw ClientError.invalidArgument("\(url) is not one of your relays: add it with `caucus relay add \(url)`") }
    }

    /// The CA certificate file kept with a relay.
    func caFile(of url: String) throws(ClientError) -> String? {
        try read { tx in try tx.caFile(of: url) }
    }

    /// A relay address as Caucus stores and compares it; one that cannot work is refused.
    public static func normalizedRelay(_ url: String) throws(ClientError) -> String {
        guard let normalized = RelayProtocol.normalizedAddress(url) else {
            throw ClientError.invalidArgument("not a relay address: \(url) (expected ws://HOST:PORT or wss://HOST)")
        }
        if RelayClient.isTLSToAnIPAddress(normalized) {
            throw ClientError.invalidArgument(RelayClientError.tlsToAnIPAddress(url).description)
        }
        return normalized
    }

    // MARK: Meta values (sealed)

    nonisolated func getMeta(_ tx: StoreTransaction, _ key: String) throws -> [UInt8]? {
        try tx.meta(key)
    }

    nonisolated func setMeta(_ tx: StoreTransaction, _ key: String, _ value: [UInt8]) throws {
        if key == "name" { updatePeople(identity.publicKey, name: String(decoding: value, as: UTF8.self), verified: false) }
        try tx.setMeta(key, value)
    }

    nonisolated func counter(_ tx: StoreTransaction, _ key: String) throws -> UInt32 {
        let current = try getMeta(tx, key).map { $0.reduce(UInt32(0)) { $0 << 8 | UInt32($1) } } ?? 1
        try setMeta(tx, key, withUnsafeBytes(of: (current + 1).bigEndian, Array.init))
        return current
    }

    // MARK: Expiry

    /// Deletes messages and files whose disappearing-message timer ran out.
    public nonisolated func pruneExpired() throws(ClientError) {
        let now = ClientStore.now()
        let idsBefore = now - 90 * 86_400_000, startsBefore = now - Self.unconfirmedStartLifetime
        // Only a read when nothing is due: opening the store need not wait for a writer.
        guard try Self.clientErrors(store, { try store.read { tx in try tx.pruneDue(now: now, idsBefore: idsBefore, startsBefore: startsBefore) } })
        else { return }
        try Self.clientErrors(store) { try store.write { tx in try tx.prune(now: now, idsBefore: idsBefore, startsBefore: startsBefore) } }
    }
}
