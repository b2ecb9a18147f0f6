/// Size classes for relay frames (Protocol.md §7.1): an encoded `ClientFrame` or `ServerFrame`
/// is brought to the smallest class that holds it and two bytes more, by appending its
/// `padding` field (15) of zero bytes, so that what an observer of the connection sees is the
/// class, not the request.
public enum FramePadding {
    /// The classes below `step`; above them every multiple of `step` is a class.
    public static let smallClasses = [4_096, 16_384]
    /// The step of the classes from 65,536 up.
    public static let step = 65_536

    /// The tag byte of field 15 with wire type 2 (length-delimited).
    static let tag: UInt8 = 15 << 3 | 2

    /// The size a frame of `count` encoded bytes is padded to: the smallest class at least
    /// `count + 2` (room for an empty padding field), or `limit` when that class is larger;
    /// `count` itself when even `limit` has no room for padding.
    public static func paddedSize(of count: Int, limit: Int = .max) -> Int {
        let needed = count + 2
        let target = smallClasses.first { $0 >= needed } ?? (needed + step - 1) / step * step
        let capped = min(target, limit)
        return capped >= needed ? capped : count
    }

    /// Appends to `frame` (an encoded frame with no padding field) the padding that brings it to
    /// `paddedSize(of: frame.count, limit: limit)` bytes.
    public static func pad(_ frame: inout [UInt8], limit: Int = .max) {
        var gap = paddedSize(of: frame.count, limit: limit) - frame.count
        guard gap >= 2 else { return }
        frame.reserveCapacity(frame.count + gap)
        if fieldLength(filling: gap) == nil {
            // No single field is exactly `gap` bytes long (the length's varint grows by a byte
            // there): an empty field first, then one for the rest.
            frame.append(contentsOf: [tag, 0])
            gap -= 2
        }
        // After the empty field the rest always has one (its varint no longer sits on a boundary).
        let length = fieldLength(filling: gap)!
        frame.append(tag)
        var value = length
        while value >= 0x80 {
            frame.append(UInt8(value & 0x7F) | 0x80)
            value >>= 7
        }
        frame.append(UInt8(value))
        frame.append(contentsOf: repeatElement(0, count: length))
    }

    /// The length of padding data whose field (tag, varint length, data) is exactly `bytes` long.
    static func fieldLength(filling bytes: Int) -> Int? {
        var varint = 1
        while varint < 10 {
            let length = bytes - 1 - varint
            if length < 0 { return nil }
            if varintSize(length) == varint { return length }
            varint += 1
        }
        return nil
    }

    static func varintSize(_ value: Int) -> Int {
        var size = 1
        var rest = value >> 7
        while rest > 0 {
            size += 1
            rest >>= 7
        }
        return size
    }
}
