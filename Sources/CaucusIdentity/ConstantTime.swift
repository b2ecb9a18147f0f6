import CSodium

/// Comparisons whose running time does not depend on where the inputs differ.
public enum ConstantTime {
    /// True when `a` and `b` are equal. Lengths are compared openly (they are not secret);
    /// the contents in constant time (`sodium_memcmp`).
    public static func equals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        guard !a.isEmpty else { return true }
        Sodium.ensureInitialized()
        return sodium_memcmp(a, b, a.count) == 0
    }
}
