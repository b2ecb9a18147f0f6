import Foundation

/// Byte counts as Caucus's programs print them for people: `512 B`, `1.5 KiB`, `3.2 MiB`, `1.1 GiB`.
public enum ByteCountText {
    public static func describe(_ bytes: UInt64) -> String {
        switch bytes {
        case ..<1024: "\(bytes) B"
        case ..<(1 << 20): String(format: "%.1f KiB", Double(bytes) / 1024)
        case ..<(1 << 30): String(format: "%.1f MiB", Double(bytes) / 1_048_576)
        default: String(format: "%.1f GiB", Double(bytes) / 1_073_741_824)
        }
    }
}
