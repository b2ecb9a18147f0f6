import CSodium
import CaucusLock

/// Memory for small secrets, carved from slabs that are locked in RAM once (`sodium_mlock`), so
/// that creating and dropping keys costs no system call. Freed blocks are zeroed by their owner
/// and reused; slabs are never returned.
final class LockedArena: Sendable {
    /// Block sizes served from slabs; larger secrets get their own locked allocation.
    static let blockSizes = [32, 64, 128]
    static let slabByteCount = 64 * 1024
    /// The process-wide arena.
    static let shared = LockedArena()

    private struct State: ~Copyable {
        /// Addresses of free blocks per size class (addresses, since raw pointers are not Sendable).
        var free: [[UInt]] = LockedArena.blockSizes.map { _ in [] }
    }

    private let state = Locked(State())

    /// The size class for `count` bytes, or nil if it is served directly.
    static func sizeClass(_ count: Int) -> Int? { blockSizes.firstIndex { count <= $0 } }

    /// A block of at least `count` bytes (count >= 1).
    func allocate(_ count: Int) -> UnsafeMutableRawPointer {
        guard let sizeClass = Self.sizeClass(count) else {
            let pointer = UnsafeMutableRawPointer.allocate(byteCount: count, alignment: 16)
            _ = sodium_mlock(pointer, count)
            return pointer
        }
        let address = state.withLock { state -> UInt in
            if let block = state.free[sizeClass].popLast() { return block }
            let size = Self.blockSizes[sizeClass]
            let slab = UnsafeMutableRawPointer.allocate(byteCount: Self.slabByteCount, alignment: 4096)
            // Best effort: over RLIMIT_MEMLOCK the memory still works, only unlocked.
            _ = sodium_mlock(slab, Self.slabByteCount)
            let base = UInt(bitPattern: slab)
            for offset in stride(from: size, to: Self.slabByteCount, by: size) {
                state.free[sizeClass].append(base + UInt(offset))
            }
            return base
        }
        return UnsafeMutableRawPointer(bitPattern: address)!
    }

    /// Returns a block that its owner has already zeroed.
    func release(_ pointer: UnsafeMutableRawPointer, count: Int) {
        guard let sizeClass = Self.sizeClass(count) else {
            _ = sodium_munlock(pointer, count)
            pointer.deallocate()
            return
        }
        let address = UInt(bitPattern: pointer)
        state.withLock { $0.free[sizeClass].append(address) }
    }
}
