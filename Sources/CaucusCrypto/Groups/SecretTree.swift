/// A binary tree of secrets over a group epoch's leaves, one leaf per member (Protocol.md §8.2).
/// A member's first chain key is derived only when first needed, in O(log n) steps, and every
/// node used on the way is erased, so no state kept afterwards can derive it again.
struct SecretTree: Sendable {
    static let info = Array("caucus/group-tree/v1".utf8)

    /// Leaves `lo..<hi` of the tree.
    struct Span: Hashable, Sendable {
        let lo: UInt32
        let hi: UInt32
        var middle: UInt32 { lo + (hi - lo) / 2 }
    }

    /// Number of leaves.
    let size: UInt32
    /// The nodes not yet split: together they cover exactly the leaves not yet taken.
    private(set) var nodes: [Span: SecureBytes]

    init(root: SecureBytes, size: UInt32) {
        self.init(size: size, nodes: [Span(lo: 0, hi: size): root])
    }

    /// A tree as stored, part-way split.
    init(size: UInt32, nodes: [Span: SecureBytes]) {
        self.size = size
        self.nodes = nodes
    }

    /// Leaf `leaf`'s secret, once; nil if it was already taken or lies outside the tree.
    mutating func take(_ leaf: UInt32) -> SecureBytes? {
        guard leaf < size else { return nil }
        var span = Span(lo: 0, hi: size)
        while nodes[span] == nil {
            guard span.hi - span.lo > 1 else { return nil }
            span = leaf < span.middle ? Span(lo: span.lo, hi: span.middle) : Span(lo: span.middle, hi: span.hi)
        }
        var secret = nodes.removeValue(forKey: span)!
        while span.hi - span.lo > 1 {
            let left = Span(lo: span.lo, hi: span.middle), right = Span(lo: span.middle, hi: span.hi)
            let leftSecret = Self.child(secret, 0), rightSecret = Self.child(secret, 1)
            if leaf < span.middle {
                nodes[right] = rightSecret
                (secret, span) = (leftSecret, left)
            } else {
                nodes[left] = leftSecret
                (secret, span) = (rightSecret, right)
            }
        }
        return secret
    }

    /// child(node, d) = HKDF-Expand(node, "caucus/group-tree/v1" ‖ d, 32), d = 0 left, 1 right.
    static func child(_ node: SecureBytes, _ direction: UInt8) -> SecureBytes {
        try! HKDF.expand(pseudoRandomKey: node, info: info + [direction], outputByteCount: 32)
    }
}
