import CaucusClientStore
import CaucusCrypto
import CaucusKeystore
import CaucusLock
import CaucusPayloads
import CaucusProtocol
import CaucusRelayClient
import Foundation
import NIOSSL

/// What a device that links another gives it (Protocol.md §9.13): the identity, its device chain,
/// the names this identity gave its devices, its display name, its contacts, and how many groups
/// it gives the new device next (each over their pairwise session, §9.14).
struct LinkContents {
    static let version: UInt8 = 1

    var identitySeed: SecureBytes
    var chain: [DeviceEntry]
    var displayName: String
    var deviceNames: [(Ed25519.PublicKey, String)]
    var contacts: [(Ed25519.PublicKey, ContactRecord)]
    var groups: UInt32

    /// `u8 1 ‖ identity seed (32) ‖ u32 n ‖ n × LP(device entry) ‖ LP(display name) ‖ u32 n ‖ n ×
    /// (device (32) ‖ LP(name)) ‖ u32 n ‖ n × (identity (32) ‖ LP(name, empty: none) ‖ u8 verified)
    /// ‖ u32 groups`.
    func encoded() -> [UInt8] {
        var writer = PayloadWriter()
        writer.u8(Self.version)
        writer.fixed(identitySeed.withUnsafeBytes { Array($0) })
        writer.u32(UInt32(chain.count))
        for entry in chain { writer.data(entry.encoded()) }
        writer.text(displayName)
        writer.u32(UInt32(deviceNames.count))
        for (key, name) in deviceNames {
            writer.fixed(key.rawRepresentation)
            writer.text(name)
        }
        ContactList.write(contacts, to: &writer)
        writer.u32(groups)
        return writer.bytes
    }

    init(identitySeed: SecureBytes, chain: [DeviceEntry], displayName: String, deviceNames: [(Ed25519.PublicKey, String)],
         contacts: [(Ed25519.PublicKey, ContactRecord)], groups: UInt32) {
        self.identitySeed = identitySeed
        self.chain = chain
        self.displayName = displayName
        self.deviceNames = deviceNames
        self.contacts = contacts
        self.groups = groups
    }

    init(decoding bytes: [UInt8]) throws(PayloadError) {
        var reader = PayloadReader(bytes)
        guard try reader.u8() == Self.version else { throw PayloadError.invalid("an answer of another version") }
        identitySeed = SecureBytes(copying: try reader.fixed(32))
        let entries = try reader.u32()
        guard entries <= UInt32(DeviceEntry.maximumEntries) else { throw PayloadError.invalid("too many device entries") }
        chain = []
        for _ in 0..<entries {
            do { chain.append(try DeviceEntry(encoded: try reader.data(limit: DeviceEntry.addByteCount))) } catch {
                throw PayloadError.invalid("a device entry does not parse")
            }
        }
        displayName = try reader.text(limit: 256)
        deviceNames = []
        for _ in 0..<(try reader.u32()) {
            deviceNames.append((try reader.publicKey(), try reader.text(limit: 256)))
        }
        contacts = try ContactList.read(&reader)
        groups = try reader.u32()
        try reader.finish()
    }
}

/// Contacts as a link answer and a recovery box carry them (Protocol.md §9.13, §9.15):
/// `u32 n ‖ n × (identity (32) ‖ LP(display name, empty: none) ‖ u8 verified (0 or 1))`.
enum ContactList {
    static func write(_ contacts: [(Ed25519.PublicKey, ContactRecord)], to writer: inout PayloadWriter) {
        writer.u32(UInt32(contacts.count))
        for (key, record) in contacts {
            writer.fixed(key.rawRepresentation)
            writer.text(record.name ?? "")
            writer.u8(record.verified ? 1 : 0)
        }
    }

    static func read(_ reader: inout PayloadReader) throws(PayloadError) -> [(Ed25519.PublicKey, ContactRecord)] {
        var contacts: [(Ed25519.PublicKey, ContactRecord)] = []
        for _ in 0..<(try reader.u32()) {
            let key = try reader.publicKey()
            let name = try reader.text(limit: 256)
            let verified = try reader.u8()
            guard verified <= 1 else { throw PayloadError.invalid("a verified flag other than 0 or 1") }
            contacts.append((key, ContactRecord(did: DID(publicKey: key).description, name: name.isEmpty ? nil : name, verified: verified == 1)))
        }
        return contacts
    }
}

/// A device this identity has, as `caucus device list` shows it.
public struct DeviceView: Sendable, Equatable {
    /// The name given when it was linked ("first device" for the identity key's).
    public var name: String
    /// Hex of its key's first 4 bytes, as the relay's logs name it.
    public var fragment: String
    public var kind: DeviceKind
    /// This computer.
    public var isThisDevice: Bool
    public var addedAt: Date?
    /// When it was revoked (nil: active).
    public var revokedAt: Date?
}

extension Account {
    static let linkRequestPrefix = "link-request:"
    static let deviceNamePrefix = "device-name:"

    /// Keeps a link request that arrived (any process of this identity may receive it), for the
    /// `device add` waiting for it (§9.13). Nothing is opened here.
    /// Anyone can send such bytes: at most `keptLinkRequests` are kept, each at most
    /// `linkRequestBytes` long (a real one is under 500), and the rest are dropped unread.
    nonisolated func keepLinkRequest(_ tx: StoreTransaction, _ delivery: Delivery) throws {
        guard delivery.payload.count <= Self.linkRequestBytes,
              try tx.metaKeys(prefix: Self.linkRequestPrefix).count < Self.keptLinkRequests
        else {
            noteLater("a request to link a new device was dropped unread (too long, or too many waiting)")
            return
        }
        try setMeta(tx, Self.linkRequestPrefix + Hex.encode(delivery.messageID.data), Array(delivery.payload))
        noteLater("a request to link a new device arrived")
    }

    static let keptLinkRequests = 16
    static let linkRequestBytes = 1_024

    /// The name this identity gave one of its devices.
    nonisolated func deviceName(_ tx: StoreTransaction, _ key: Ed25519.PublicKey) throws -> String? {
        try getMeta(tx, Self.deviceNamePrefix + Hex.encode(key.rawRepresentation)).map { String(decoding: $0, as: UTF8.self) }
    }

    /// This identity's devices, from its kept chain (its first device alone when it has none).
    public func deviceList() throws(ClientError) -> [DeviceView] {
        try read { tx in
            let chain = try tx.deviceChain(of: identity.publicKey)?.chain
            guard let chain else {
                return [DeviceView(name: "first device", fragment: DeviceKey(identity.publicKey).description, kind: .computer,
                                   isThisDevice: true, addedAt: nil, revokedAt: nil)]
            }
            return try chain.devices.map { listed in
                let added = chain.entries[Int(listed.addedIn)].signedAt
                let revoked = listed.revokedIn.map { chain.entries[Int($0)].signedAt }
                return DeviceView(
                    name: try deviceName(tx, listed.key) ?? (listed.key == identity.publicKey ? "first device" : "unnamed"),
                    fragment: DeviceKey(listed.key).description, kind: listed.kind, isThisDevice: listed.key == device.publicKey,
                    addedAt: Date(timeIntervalSince1970: Double(added)), revokedAt: revoked.map { Date(timeIntervalSince1970: Double($0)) })
            }
        }
    }

    /// What `device add` reports while it waits.
    public enum LinkProgress: Sendable {
        /// The code to show (text and QR) and when it expires.
        case code(LinkCode)
        /// A request arrived and was accepted: the new device is being given the identity.
        case linking(name: String)
    }

    /// A device `addDevice` linked: its name, and how many groups it was given.
    public struct LinkedDevice: Sendable, Equatable {
        public var name: String
        public var groups: Int
    }

    /// Makes a one-time link code, waits (until it expires) for the device that holds it to ask,
    /// certifies that device in the device chain, publishes the chain, gives the new device the
    /// identity (§9.13) and then every group this device is in (§9.14).
    public func addDevice(progress: @Sendable (LinkProgress) -> Void) async throws(ClientError) -> LinkedDevice {
        guard let relay = try relays().first else { throw ClientError.noRelay }
        let code = LinkCode(identity: identity.publicKey, device: device.publicKey, secret: Random.bytes(32),
                            expiresAt: Date().addingTimeInterval(LinkCode.lifetime), relay: relay)
        _ = try await connected()
        progress(.code(code))
        let deadline = ContinuousClock.now + .seconds(max(1, code.expiresAt.timeIntervalSinceNow))
        while true {
            if let request = try takeLinkRequest(for: code) {
                progress(.linking(name: request.name))
                let chain = try await link(request, code: code)
                let groups = try await handGroups(to: request.device, chain: chain)
                return LinkedDevice(name: request.name, groups: groups)
            }
            guard ContinuousClock.now < deadline else {
                throw ClientError.invalidArgument("the link code expired before a new device used it; run `caucus device add` again")
            }
            do { _ = try await connected() } catch .relayUnreachable { }
            await waitForChange(until: deadline)
        }
    }

    /// The first kept request that opens with `code` and carries a valid device proof; requests
    /// that do not are dropped (they are for no code of this process, or forged).
    private func takeLinkRequest(for code: LinkCode) throws(ClientError) -> LinkMessage.Request? {
        try write { tx in
            for key in try tx.metaKeys(prefix: Self.linkRequestPrefix) {
                let bytes = try getMeta(tx, key) ?? []
                try tx.deleteMeta(key)
                guard let request = LinkMessage.openRequest(bytes, for: code),
                      request.device.isValidSignature(request.proof, for: DeviceEntry.deviceStatement(identity: identity.publicKey,
                                                                                                     device: request.device))
                else { continue }
                return request
            }
            return nil
        }
    }

    /// Certifies the requesting device, publishes the chain, answers with the identity and tells
    /// the contacts; returns the new chain.
    private func link(_ request: LinkMessage.Request, code: LinkCode) async throws(ClientError) -> DeviceChain {
        let client = try await connected()
        var chain = try await currentOwnChain()
        do {
            _ = try chain.add(request.device, kind: .computer, deviceSignature: request.proof, by: identity,
                              signedAt: UInt64(Date().timeIntervalSince1970))
        } catch {
            throw ClientError.invalidArgument("the new device cannot be added: \(error)")
        }
        try await publish(chain, on: client)
        let answer: [UInt8] = try write { tx in
            try tx.saveDeviceChain(chain, of: identity.publicKey, fetchedAt: ClientStore.now())
            try setMeta(tx, Self.deviceNamePrefix + Hex.encode(request.device.rawRepresentation), Array(request.name.utf8))
            var names: [(Ed25519.PublicKey, String)] = []
            for listed in chain.devices where listed.isActive {
                if let name = try deviceName(tx, listed.key) { names.append((listed.key, name)) }
            }
            let groups = try tx.allGroups().count { info, session in !info.removed && session.chain.leaves[device.publicKey] != nil }
            let contents = LinkContents(identitySeed: identity.seed, chain: chain.entries, displayName: try myName(tx), deviceNames: names,
                                        contacts: try tx.allContacts().filter { $0.0 != identity.publicKey }, groups: UInt32(groups))
            var plain = contents.encoded()
            defer { wipe(&plain) }
            do { return try LinkMessage.sealAnswer(plain, to: request, for: code) } catch {
                throw ClientError.invalidArgument("the new device's link key is unusable")
            }
        }
        let message = OutgoingMessage(messageID: MessageID(Random.bytes(16)), recipients: [DeviceKey(request.device)],
                                      payload: Data(answer), ttlSeconds: UInt32(max(60, code.expiresAt.timeIntervalSinceNow)))
        do { _ = try await retrying { try await client.send(message) } } catch {
            throw ClientError.relayUnreachable(url: client.address, reason: Self.reason(error))
        }
        await tellContacts(about: chain)
        return chain
    }

    /// Sends the identity's chain to every contact (§9.12), so that their clients write to a new
    /// device at once and stop writing to a revoked one. One that cannot be reached learns it
    /// later (when the device writes to them, or within a day).
    func tellContacts(about chain: DeviceChain) async {
        let contacts = (try? read { tx in try tx.allContacts().map(\.0).filter { $0 != identity.publicKey } }) ?? []
        for contact in contacts {
            do {
                try await ensureSession(with: contact)
                try write { tx in _ = try enqueuePairwise(tx, .devicesChanged(chain.entries), to: contact) }
            } catch {
                note("could not tell \(DID(publicKey: contact).short) about the change of devices yet: \(error)")
            }
        }
        try? await flushOutbox()
    }

    /// Queues the identity's new chain (DevicesChanged, §9.12) for each of its other devices that
    /// has a session with this one, but `except`.
    nonisolated func tellOwnDevices(_ tx: StoreTransaction, about chain: DeviceChain, except: Ed25519.PublicKey? = nil) throws {
        for other in try devices(tx, of: identity.publicKey) where try other != except && tx.hasSession(peer: other) {
            try enqueuePairwise(tx, .devicesChanged(chain.entries), toDevice: other, id: Random.bytes(16), ttl: 0)
        }
    }

    /// This identity's chain as the relay and this device know it: fetched (so that a change made
    /// on another device is built on), else a new one whose first device is the identity key.
    func currentOwnChain() async throws(ClientError) -> DeviceChain {
        if let chain = try await refreshDevices(of: identity.publicKey) { return chain }
        return DeviceChain(identity: identity, signedAt: UInt64(Date().timeIntervalSince1970))
    }

    /// Publishes this identity's chain.
    func publish(_ chain: DeviceChain, on client: RelayClient) async throws(ClientError) {
        do {
            _ = try await retrying { try await client.publishDevices(chain.entries) }
        } catch let error as RelayError {
            throw ClientError.relayRefused("the relay refused the device chain: \(error.message)")
        } catch {
            throw ClientError.relayUnreachable(url: client.address, reason: Self.reason(error))
        }
    }

    // MARK: The new device

    /// Makes this computer a device of the identity whose code `code` is (`caucus device link`,
    /// §9.13): asks the device that made the code, receives the identity, and keeps it here under
    /// `passphrase`. Waits at most until the code expires.
    public static func link(
        home: ClientHome, passphrase: Passphrase, code: LinkCode, name: String, parameters: Argon2id.Parameters = .moderate,
        tls: TLSConfiguration? = nil, proxy proxyText: String? = nil, allowWeakPassphrase: Bool = false,
        handshakeTimeout: Duration = .seconds(15)
    ) async throws(ClientError) -> Account {
        let keystore = Keystore(path: home.keystorePath)
        guard !keystore.exists else { throw ClientError.identityExists(home: home.path) }
        let proxy = try Self.proxy(proxyText)
        try checkStrength(of: passphrase, allowWeak: allowWeakPassphrase)
        try validate(displayName: name)
        guard !code.hasExpired() else { throw ClientError.invalidArgument("this link code has expired; make a new one with `caucus device add`") }
        let device = Ed25519.PrivateKey(), linkKey = X25519.PrivateKey()
        let proof = device.signature(for: DeviceEntry.deviceStatement(identity: code.identity, device: device.publicKey))
        let request = LinkMessage.seal(LinkMessage.Request(device: device.publicKey, proof: proof, linkKey: linkKey.publicKey, name: name),
                                       for: code)
        let client: RelayClient
        do {
            client = try await RelayClient.connect(url: code.relay, deviceKey: device, tls: tls, proxy: proxy, timeout: handshakeTimeout)
        } catch {
            throw ClientError.relayUnreachable(url: code.relay, reason: reason(error))
        }
        defer { Task { await client.close() } }
        let contents: LinkContents
        do {
            _ = try await client.send(OutgoingMessage(messageID: MessageID(Random.bytes(16)), recipients: [DeviceKey(code.device)],
                                                      payload: Data(request), ttlSeconds: UInt32(max(60, code.expiresAt.timeIntervalSinceNow))))
            contents = try await answer(on: client, linkKey: linkKey, device: device.publicKey, code: code)
        } catch let error as ClientError {
            throw error
        } catch {
            throw ClientError.relayUnreachable(url: code.relay, reason: reason(error))
        }
        let identity: Ed25519.PrivateKey
        let chain: DeviceChain
        do {
            identity = try Ed25519.PrivateKey(seed: contents.identitySeed)
            chain = try DeviceChain.verify(contents.chain)
        } catch {
            throw ClientError.invalidArgument("the other device's answer is not valid: \(error)")
        }
        guard identity.publicKey == code.identity, chain.identity == code.identity, chain.certifies(device.publicKey) else {
            throw ClientError.invalidArgument("the other device's answer does not make this computer a device of \(DID(publicKey: code.identity).short)")
        }
        let account = try await makeDeviceHome(
            home: home, passphrase: passphrase, parameters: parameters, tls: tls, identity: identity, device: device, name: name,
            chain: chain, displayName: contents.displayName, deviceNames: contents.deviceNames, contacts: contents.contacts,
            relay: code.relay, proxy: proxy) { account, tx in
            try account.setMeta(tx, Self.linkedGroupsKey, Self.bigEndian(UInt64(contents.groups)))
        }
        // Its prekeys go up at once, on the link's connection: the people the other device tells
        // of this one (§9.12) can then write to it before it next connects.
        do { try await account.publishPrekeys(on: client, remaining: 0, kemRemaining: 0) } catch {
            await account.note("this computer's keys are not on the relay yet (they go up at its next connection): \(reason(error))")
        }
        return account
    }

    /// Makes the home of a new device of `identity` (linked, or recovered from a paper key): the
    /// keystore under `passphrase`, and in the store the device's key, the identity's chain, the
    /// names, the contacts, the relay (with the proxy it was reached through) and a signed prekey,
    /// then `more` in the same transaction.
    static func makeDeviceHome(
        home: ClientHome, passphrase: Passphrase, parameters: Argon2id.Parameters, tls: TLSConfiguration?,
        identity: Ed25519.PrivateKey, device: Ed25519.PrivateKey, name: String, chain: DeviceChain, displayName: String,
        deviceNames: [(Ed25519.PublicKey, String)], contacts: [(Ed25519.PublicKey, ContactRecord)], relay: String, proxy: SOCKSProxy?,
        more: @escaping @Sendable (Account, StoreTransaction) throws -> Void = { _, _ in }
    ) async throws(ClientError) -> Account {
        try await offCooperativePool { () throws(ClientError) -> Account in
            let keystore = Keystore(path: home.keystorePath)
            try home.create()
            do { try keystore.create(identity, passphrase: passphrase, parameters: parameters) } catch {
                throw ClientError.keystore("\(error)")
            }
            let store = try openStore(home: home, identity: identity)
            let account = Account(home: home, identity: identity, device: device, store: store, tls: tls)
            try clientErrors(store) {
                try store.write { tx in
                    try tx.setMeta(Self.deviceSeedKey, device.seed.withUnsafeBytes { Array($0) })
                    try account.setMeta(tx, "name", Array(displayName.utf8))
                    try tx.saveDeviceChain(chain, of: identity.publicKey, fetchedAt: ClientStore.now())
                    for (key, deviceName) in deviceNames {
                        try tx.setMeta(Self.deviceNamePrefix + Hex.encode(key.rawRepresentation), Array(deviceName.utf8))
                    }
                    try tx.setMeta(Self.deviceNamePrefix + Hex.encode(device.publicKey.rawRepresentation), Array(name.utf8))
                    for (key, record) in contacts { try account.saveContact(tx, key, record) }
                    try tx.addRelay(relay, caFile: nil, proxy: proxy?.description)
                    try account.makeSignedPrekey(tx)
                    try more(account, tx)
                }
            }
            return account
        }
    }

    static let linkedGroupsKey = "linked_groups"

    /// Receives the groups the device that linked this one gives it (§9.14): syncs until this
    /// device has as many as that device announced in its answer, or `wait` has passed. Returns
    /// how many it has and how many were announced.
    public func receiveLinkedGroups(wait: Duration = .seconds(60)) async throws(ClientError) -> (received: Int, announced: Int) {
        let announced = try read { tx in
            Int(try getMeta(tx, Self.linkedGroupsKey).map { $0.reduce(UInt64(0)) { $0 << 8 | UInt64($1) } } ?? 0)
        }
        let deadline = ContinuousClock.now + wait
        while true {
            try await sync(readingMailboxAfresh: false)
            let received = try groups().count { !$0.removed }
            guard received < announced, ContinuousClock.now < deadline else { return (received, announced) }
            await waitForChange(until: min(deadline, .now + .seconds(5)))
        }
    }

    /// Waits on `client` for the answer to this link, until the code expires; acknowledges it.
    private static func answer(on client: RelayClient, linkKey: X25519.PrivateKey, device: Ed25519.PublicKey,
                               code: LinkCode) async throws -> LinkContents {
        let timer = Task {
            try await Task.sleep(for: .seconds(max(1, code.expiresAt.timeIntervalSinceNow)))
            await client.close()
        }
        defer { timer.cancel() }
        for await push in client.pushes {
            guard case .delivery(let delivery) = push,
                  var plain = LinkMessage.openAnswer(Array(delivery.payload), linkKey: linkKey, device: device, for: code)
            else { continue }
            defer { wipe(&plain) }
            _ = try? await client.acknowledge([delivery.messageID])
            do { return try LinkContents(decoding: plain) } catch {
                throw ClientError.invalidArgument("the other device's answer does not parse: \(error)")
            }
        }
        throw ClientError.invalidArgument("""
            the device that made the code did not answer before it expired (is `caucus device add` still running there?)
            """)
    }
}
