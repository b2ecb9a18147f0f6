/// The Merkle tree a tally statement commits to (Protocol.md §10.9): the Merkle Tree Hash of
/// RFC 9162 §2.1.1 (Certificate Transparency) with BLAKE2b-256 for SHA-256, over the counted
/// cards' hashes in ascending byte order. Leaves are `H(0x00 ‖ card hash)`, interior nodes
/// `H(0x01 ‖ left ‖ right)`, the empty tree `H()`; a tree of n > 1 leaves splits after the largest
/// power of two below n. Inclusion proofs are RFC 9162's audit paths, checked by its §2.1.3.2.
public struct CardMerkleTree: Sendable {
    /// Every level of the tree, leaf hashes first and the root last. A level of odd length
    /// carries its last node up unchanged, which gives RFC 9162's tree shape.
    private let levels: [[[UInt8]]]

    /// The tree over `leaves` (card hashes, in the order given).
    public init(_ leaves: [[UInt8]]) {
        var levels = [leaves.map(Self.leafHash)]
        while let level = levels.last, level.count > 1 {
            var next: [[UInt8]] = []
            next.reserveCapacity((level.count + 1) / 2)
            var index = 0
            while index + 1 < level.count {
                next.append(Self.nodeHash(level[index], level[index + 1]))
                index += 2
            }
            if index < level.count { next.append(level[index]) }
            levels.append(next)
        }
        self.levels = levels
    }

    /// The number of leaves.
    public var size: Int { levels[0].count }

    /// The root (BLAKE2b-256 of nothing for an empty tree).
    public var root: [UInt8] { size == 0 ? Self.hash() : levels[levels.count - 1][0] }

    /// The audit path of the leaf at `index`: sibling hashes from the leaf up to the root.
    public func inclusionProof(index: Int) -> [[UInt8]] {
        precondition(levels[0].indices.contains(index), "no leaf at \(index)")
        var proof: [[UInt8]] = []
        var position = index
        for level in levels.dropLast() {
            let sibling = position ^ 1
            if sibling < level.count { proof.append(level[sibling]) }
            position >>= 1
        }
        return proof
    }

    /// Whether `proof` shows the card hash `leaf` at `index` of a tree of `size` leaves whose root
    /// is `root` (RFC 9162 §2.1.3.2).
    public static func verify(inclusion proof: [[UInt8]], of leaf: [UInt8], at index: UInt64, size: UInt64, root: [UInt8]) -> Bool {
        guard index < size, proof.allSatisfy({ $0.count == 32 }) else { return false }
        var fn = index, sn = size - 1
        var r = leafHash(leaf)
        for p in proof {
            if sn == 0 { return false }
            if fn & 1 == 1 || fn == sn {
                r = nodeHash(p, r)
                if fn & 1 == 0 {
                    while fn & 1 == 0 && fn != 0 {
                        fn >>= 1
                        sn >>= 1
                    }
                }
            } else {
                r = nodeHash(r, p)
            }
            fn >>= 1
            sn >>= 1
        }
        return sn == 0 && r == root
    }

    static func leafHash(_ leaf: [UInt8]) -> [UInt8] { hash([0x00], leaf) }

    static func nodeHash(_ left: [UInt8], _ right: [UInt8]) -> [UInt8] { hash([0x01], left, right) }

    static func hash(_ parts: [UInt8]...) -> [UInt8] {
        var hasher = try! BLAKE2b.Hasher(outputByteCount: 32)
        for part in parts { hasher.update(part) }
        return hasher.finalize()
    }
}
