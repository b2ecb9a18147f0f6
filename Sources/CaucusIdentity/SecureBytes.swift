import CSodium

/// Bytes that hold a secret: in memory locked in RAM where the system allows it (`LockedArena`),
/// and zeroed when released.
///
/// The contents never appear in `description`, `debugDescription` or `dump`.
public final class SecureBytes: @unchecked Sendable {
    // Immutable after initialisation, so sharing across threads is safe.
    private let pointer: UnsafeMutableRawPointer
    /// The number of secret bytes.
    public let count: Int

    /// Fresh, uninitialised (zeroed) secret storage; `fill` writes it once.
    package init(count: Int, fill: (UnsafeMutableRawBufferPointer) throws -> Void) rethrows {
        Sodium.ensureInitialized()
        self.count = count
        pointer = LockedArena.shared.allocate(Swift.max(count, 1))
        pointer.initializeMemory(as: UInt8.self, repeating: 0, count: Swift.max(count, 1))
        // If `fill` throws, `deinit` still runs (every stored property is set) and releases the
        // block: releasing it here too would hand it to two later secrets.
        try fill(UnsafeMutableRawBufferPointer(start: pointer, count: count))
    }

    /// `count` bytes from the system's secure random generator.
    public convenience init(randomCount count: Int) {
        self.init(count: count) { buffer in
            if let base = buffer.baseAddress { randombytes_buf(base, buffer.count) }
        }
    }

    /// A secret copy of `bytes`; the caller remains responsible for wiping its own copy.
    public convenience init(copying bytes: some Collection<UInt8>) {
        self.init(count: bytes.count) { buffer in
            // One copy of contiguous bytes (arrays, slices, Data); element by element otherwise.
            let copied: Void? = bytes.withContiguousStorageIfAvailable { source in
                if let base = source.baseAddress, let target = buffer.baseAddress {
                    target.copyMemory(from: base, byteCount: source.count)
                }
            }
            if copied == nil { _ = buffer.initializeMemory(as: UInt8.self, from: bytes) }
        }
    }

    deinit {
        Self.release(pointer, count)
    }

    private static func release(_ pointer: UnsafeMutableRawPointer, _ count: Int) {
        sodium_memzero(pointer, Swift.max(count, 1))
        LockedArena.shared.release(pointer, count: Swift.max(count, 1))
    }

    /// Reads the secret without copying it out.
    public func withUnsafeBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try body(UnsafeRawBufferPointer(start: pointer, count: count))
    }

    /// Constant-time equality of two secrets of the same length.
    public func constantTimeEquals(_ other: SecureBytes) -> Bool {
        guard count == other.count else { return false }
        return sodium_memcmp(pointer, other.pointer, count) == 0
    }
}

extension SecureBytes: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var description: String { "SecureBytes(\(count) bytes, redacted)" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .class) }
}
