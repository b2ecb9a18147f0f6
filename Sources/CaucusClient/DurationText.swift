import Foundation

/// Durations as people type them for timers and invite lifetimes: `30s`, `10m`, `12h`, `1d`, `2w`, or `off`.
public enum DurationText {
    /// Seconds for `text`; 0 for `off`; nil when it is not a duration.
    public static func seconds(_ text: String) -> UInt32? {
        let lowered = text.lowercased().trimmingCharacters(in: .whitespaces)
        if lowered == "off" || lowered == "0" { return 0 }
        let units: [(String, UInt64)] = [("s", 1), ("m", 60), ("min", 60), ("h", 3_600), ("d", 86_400), ("w", 604_800)]
        for (suffix, factor) in units.sorted(by: { $0.0.count > $1.0.count }) where lowered.hasSuffix(suffix) {
            guard let number = UInt64(lowered.dropLast(suffix.count)), number > 0 else { return nil }
            let total = number * factor
            return total <= UInt64(UInt32.max) ? UInt32(total) : nil
        }
        return nil
    }
}
