/// A decrypted group message.
public struct GroupMessage: Equatable, Sendable {
    /// The member who sent it (its identity key): the owner of `device`, shown as the sender.
    public let sender: Ed25519.PublicKey
    /// The device that sent it (verified by the signature inside the ciphertext); `sender` itself
    /// for a member's first device.
    public let device: Ed25519.PublicKey
    /// The epoch it was sent in.
    public let epoch: UInt64
    /// The sending device's counter in that epoch.
    public let counter: UInt32
    /// The text.
    public let plaintext: [UInt8]
    /// Its hash, which later messages point back to.
    public let hash: [UInt8]
    /// What was noticed about its delivery.
    public let events: [GroupEvent]
}

/// Delivery anomalies a receiver reports to the user; the message itself is genuine.
public enum GroupEvent: Equatable, Sendable {
    /// This device's earlier messages are missing (dropped or delayed): how many.
    case gap(missing: Int)
    /// This message arrived after later ones from the same device.
    case lateArrival
    /// The sender had seen messages that this member has not (yet): how many. A relay that drops
    /// or withholds messages shows up here.
    case unseenPredecessors(Int)
    /// The membership chain removes the sending device, or its owner, at this entry, after the
    /// message's epoch: the message is genuine but may have been written after the removal, by
    /// someone the relay kept unaware of it (Protocol.md §8.4).
    case senderRemoved(atEntry: UInt64)
}

extension GroupSession {
    static let messageType: UInt8 = 0x03
    static let encryptedHeaderByteCount = XChaCha20Poly1305.overhead + 32 + 4

    /// Encrypts `plaintext` once for the whole group, from this state's device, whose key
    /// (`deviceKey`, the identity key on a member's first device) signs it inside the ciphertext.
    public mutating func encrypt(_ plaintext: [UInt8], device deviceKey: Ed25519.PrivateKey) throws(GroupError) -> [UInt8] {
        guard deviceKey.publicKey == device else { throw GroupError.notInGroup }
        guard currentEpoch == requiredEpoch else { throw GroupError.epochKeyPending(requiredEpoch) }
        // Mutate the epoch in place: a copy would duplicate every device's chain (O(group size)).
        guard epochs[currentEpoch]?.prepareChain(for: device) == true,
              let headerKey = epochs[currentEpoch]?.headerKey, var chain = epochs[currentEpoch]?.senders[device]
        else { throw GroupError.notInGroup }
        let counter = chain.next
        let (messageKey, _, _) = try chain.key(for: counter)
        epochs[currentEpoch]!.senders[device] = chain

        var prefix: [UInt8] = [Self.messageType]
        prefix.appendU64(currentEpoch)
        var header = device.rawRepresentation
        header.appendU32(counter)
        prefix += XChaCha20Poly1305.seal(header, using: headerKey, authenticating: prefix)

        let previous = recent
        let statement = Self.statement(groupID: groupID, epoch: currentEpoch, sender: device, counter: counter,
                                       previous: previous, plaintext: plaintext)
        let signature = deviceKey.signature(for: statement)
        var content = [UInt8]()
        content.appendU32(UInt32(plaintext.count))
        content += plaintext
        content.append(UInt8(previous.count))
        for hash in previous { content += hash }
        content += signature.rawRepresentation
        let padded = try! Padding.pad(content, blockSize: Self.paddingBlock)
        wipe(&content)
        remember(statement.hash(signedWith: signature))
        return prefix + XChaCha20Poly1305.seal(padded, using: try! SymmetricKey(bytes: messageKey), authenticating: prefix)
    }

    /// Decrypts a group message; anything forged, replayed or from a device not in the group at its
    /// epoch throws and changes nothing.
    public mutating func decrypt(_ message: [UInt8]) throws(GroupError) -> GroupMessage {
        var reader = ByteReader(message)
        let epochNumber: UInt64, encryptedHeader: [UInt8]
        do {
            guard try reader.u8() == Self.messageType else { throw GroupError.malformed("not a group message") }
            epochNumber = try reader.u64()
            encryptedHeader = try reader.read(Self.encryptedHeaderByteCount)
        } catch let error as GroupError {
            throw error
        } catch {
            throw GroupError.malformed("truncated")
        }
        let prefixLength = 9 + Self.encryptedHeaderByteCount
        guard let headerKey = epochs[epochNumber]?.headerKey else { throw GroupError.unknownEpoch(epochNumber) }
        let header: [UInt8]
        do {
            header = try XChaCha20Poly1305.open(encryptedHeader, using: headerKey, authenticating: Array(message[0..<9]))
        } catch {
            throw GroupError.authenticationFailed
        }
        let sendingDevice = Ed25519.PublicKey(unchecked: Array(header[0..<32]))
        let counter = header[32..<36].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        // Deriving a device's first chain key changes nothing observable if the message then fails.
        guard let owner = self.chain.owner(of: sendingDevice), epochs[epochNumber]?.prepareChain(for: sendingDevice) == true,
              var chain = epochs[epochNumber]?.senders[sendingDevice]
        else { throw GroupError.notMember }
        let (messageKey, skipped, late) = try chain.key(for: counter)

        let padded: [UInt8]
        do {
            padded = try XChaCha20Poly1305.open(Array(message[prefixLength...]), using: try SymmetricKey(bytes: messageKey),
                                                authenticating: Array(message[0..<prefixLength]))
        } catch {
            throw GroupError.authenticationFailed
        }
        let (plaintext, previous, signature) = try Self.parseContent(padded)
        let statement = Self.statement(groupID: groupID, epoch: epochNumber, sender: sendingDevice, counter: counter,
                                       previous: previous, plaintext: plaintext)
        guard sendingDevice.isValidSignature(signature, for: statement) else { throw GroupError.badSignature }

        // Everything checked: commit the chain step and record the message.
        epochs[epochNumber]!.senders[sendingDevice] = chain
        let hash = statement.hash(signedWith: signature)
        let unseen = previous.filter { !seen.contains($0) }.count
        remember(hash)
        var events = [GroupEvent]()
        if skipped > 0 { events.append(.gap(missing: skipped)) }
        if late { events.append(.lateArrival) }
        if unseen > 0 { events.append(.unseenPredecessors(unseen)) }
        if let removal = self.chain.entries.first(where: {
            $0.sequence > epochNumber && ($0.action == .removeDevice(sendingDevice) || $0.action == .remove(owner))
        }) {
            events.append(.senderRemoved(atEntry: removal.sequence))
        }
        return GroupMessage(sender: owner, device: sendingDevice, epoch: epochNumber, counter: counter, plaintext: plaintext, hash: hash,
                            events: events)
    }

    /// The canonical bytes a group message's sending device signs (`sender` is the device key).
    static func statement(groupID: [UInt8], epoch: UInt64, sender: Ed25519.PublicKey, counter: UInt32,
                          previous: [[UInt8]], plaintext: [UInt8]) -> CanonicalMessage {
        CanonicalMessage(messageContext, fields: [
            .bytes(groupID), .uint64(epoch), .publicKey(sender), .uint64(UInt64(counter)),
            .bytes(previous.flatMap { $0 }), .bytes(plaintext),
        ])
    }

    /// `u32 length ‖ plaintext ‖ u8 count ‖ count × hash (32) ‖ signature (64)`, then padding.
    package static func parseContent(_ padded: [UInt8]) throws(GroupError) -> ([UInt8], [[UInt8]], Ed25519.Signature) {
        let content: [UInt8]
        do { content = try Padding.unpad(padded, blockSize: paddingBlock) } catch { throw GroupError.malformed("bad padding") }
        var reader = ByteReader(content)
        do {
            let length = Int(try reader.u32())
            let plaintext = try reader.read(length)
            let count = Int(try reader.u8())
            guard count <= previousCount else { throw GroupError.malformed("too many prev pointers") }
            var previous = [[UInt8]]()
            for _ in 0..<count { previous.append(try reader.read(32)) }
            let signature = Ed25519.Signature(unchecked: try reader.read(64))
            guard reader.remaining == 0 else { throw GroupError.malformed("trailing bytes") }
            return (plaintext, previous, signature)
        } catch let error as GroupError {
            throw error
        } catch {
            throw GroupError.malformed("truncated content")
        }
    }

    /// Records a message hash as seen, and as one of the latest for the next `prev` pointers.
    mutating func remember(_ hash: [UInt8]) {
        guard seen.insert(hash).inserted else { return }
        // A ring of the last `rememberedMessages` hashes: the oldest is forgotten when it is overwritten.
        if seenOrder.count < Self.rememberedMessages {
            seenOrder.append(hash)
        } else {
            seen.remove(seenOrder[seenCursor])
            seenOrder[seenCursor] = hash
            seenCursor = (seenCursor + 1) % Self.rememberedMessages
        }
        recent.append(hash)
        if recent.count > Self.previousCount { recent.removeFirst() }
    }
}
