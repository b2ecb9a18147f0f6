/// What the organizers send each signer after a tally (Protocol.md §10.10): their statement of the
/// tally, and a Merkle proof that the signer's card is among the counted cards, or that it is not
/// (a withdrawn or rejected card). With it a signer checks, from the campaign's card key alone,
/// that their card counts, and notices a later statement that leaves it out.
public struct TallyProof: Hashable, Sendable {
    static let type: UInt8 = 0x26

    /// One counted card and its audit path in the statement's tree.
    public struct Leaf: Hashable, Sendable {
        public let card: [UInt8]
        public let index: UInt64
        public let path: [[UInt8]]

        public init(card: [UInt8], index: UInt64, path: [[UInt8]]) {
            self.card = card
            self.index = index
            self.path = path
        }
    }

    public enum Evidence: Hashable, Sendable {
        /// The card is the leaf at `index`.
        case included(index: UInt64, path: [[UInt8]])
        /// The card is not counted: the counted cards next to where it would sort (none in an
        /// empty tree, one at either end, otherwise the two on either side).
        case absent(neighbours: [Leaf])
    }

    /// What the proof shows, once checked.
    public enum Finding: Equatable, Sendable {
        case counted
        case notCounted
    }

    public let statement: TallyStatement
    /// The card the proof is about.
    public let card: [UInt8]
    public let evidence: Evidence

    public init(statement: TallyStatement, card: [UInt8], evidence: Evidence) {
        self.statement = statement
        self.card = card
        self.evidence = evidence
    }

    /// The proof for `card` in the tree of `leaves` (ascending card hashes, `TallyStatement.leaves`).
    public static func make(for card: [UInt8], statement: TallyStatement, leaves: [[UInt8]], tree: CardMerkleTree) -> TallyProof {
        // The first leaf not below the card.
        var low = 0, high = leaves.count
        while low < high {
            let middle = (low + high) / 2
            if leaves[middle].lexicographicallyPrecedes(card) { low = middle + 1 } else { high = middle }
        }
        if low < leaves.count, leaves[low] == card {
            return TallyProof(statement: statement, card: card, evidence: .included(index: UInt64(low), path: tree.inclusionProof(index: low)))
        }
        let neighbours = [low - 1, low].filter { leaves.indices.contains($0) }.map {
            Leaf(card: leaves[$0], index: UInt64($0), path: tree.inclusionProof(index: $0))
        }
        return TallyProof(statement: statement, card: card, evidence: .absent(neighbours: neighbours))
    }

    /// Checks the statement's signature by the campaign's card key and the proof against its
    /// root; nil when either fails (a forged or broken proof shows nothing).
    public func finding(for campaign: Campaign) -> Finding? {
        guard statement.isSigned(for: campaign), card.count == 32 else { return nil }
        let size = statement.counted, root = statement.root
        switch evidence {
        case .included(let index, let path):
            return CardMerkleTree.verify(inclusion: path, of: card, at: index, size: size, root: root) ? .counted : nil
        case .absent(let neighbours):
            guard neighbours.allSatisfy({ CardMerkleTree.verify(inclusion: $0.path, of: $0.card, at: $0.index, size: size, root: root) })
            else { return nil }
            let below = { (leaf: Leaf) in leaf.card.lexicographicallyPrecedes(self.card) }
            let above = { (leaf: Leaf) in self.card.lexicographicallyPrecedes(leaf.card) }
            switch neighbours.count {
            case 0:
                return size == 0 ? .notCounted : nil
            case 1:
                let leaf = neighbours[0]
                // Before the first counted card, or after the last.
                let first = leaf.index == 0 && above(leaf)
                let last = leaf.index == size - 1 && below(leaf)
                return first || last ? .notCounted : nil
            case 2:
                let (left, right) = (neighbours[0], neighbours[1])
                return right.index == left.index + 1 && below(left) && above(right) ? .notCounted : nil
            default:
                return nil
            }
        }
    }

    /// `0x26 ‖ statement (185) ‖ card hash (32) ‖ evidence`, where evidence is `0x01 ‖ u64 index ‖
    /// path` or `0x02 ‖ u8 count ‖ count × (card hash (32) ‖ u64 index ‖ path)`, and a path is
    /// `u8 length ‖ length × hash (32)`.
    public func encoded() -> [UInt8] {
        var out: [UInt8] = [Self.type] + statement.encoded() + card
        func append(_ path: [[UInt8]]) {
            out.append(UInt8(path.count))
            for hash in path { out += hash }
        }
        switch evidence {
        case .included(let index, let path):
            out.append(0x01)
            out.appendU64(index)
            append(path)
        case .absent(let neighbours):
            out.append(0x02)
            out.append(UInt8(neighbours.count))
            for leaf in neighbours {
                out += leaf.card
                out.appendU64(leaf.index)
                append(leaf.path)
            }
        }
        return out
    }

    /// Parses a proof; check `finding(for:)` before trusting it.
    public init(encoded bytes: [UInt8]) throws(CardError) {
        var reader = CardReader(bytes)
        guard try reader.u8() == Self.type else { throw CardError.malformed("not a tally proof") }
        statement = try TallyStatement(encoded: try reader.read(TallyStatement.encodedLength))
        card = try reader.read(32)
        func path() throws(CardError) -> [[UInt8]] {
            let count = Int(try reader.u8())
            // A tree of at most 2^64 leaves has paths of at most 64 hashes.
            guard count <= 64 else { throw CardError.malformed("a Merkle path longer than 64") }
            var hashes: [[UInt8]] = []
            for _ in 0..<count { hashes.append(try reader.read(32)) }
            return hashes
        }
        switch try reader.u8() {
        case 0x01:
            evidence = .included(index: try reader.u64(), path: try path())
        case 0x02:
            let count = Int(try reader.u8())
            guard count <= 2 else { throw CardError.malformed("more than two neighbours in a proof of absence") }
            var neighbours: [Leaf] = []
            for _ in 0..<count { neighbours.append(Leaf(card: try reader.read(32), index: try reader.u64(), path: try path())) }
            evidence = .absent(neighbours: neighbours)
        default:
            throw CardError.malformed("an unknown kind of tally proof")
        }
        try reader.finish()
    }
}
