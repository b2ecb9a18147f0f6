/// A QR Code Model 2 symbol (ISO/IEC 18004) carrying text in byte mode, as a square of dark and light modules.
public struct QRCode: Sendable, Equatable {
    /// Modules along one side: 21 for version 1, four more for each version above.
    public let size: Int
    /// The symbol version, 1...40: the smallest that holds the text at the chosen correction level.
    public let version: Int
    /// The error correction level.
    public let correction: Correction
    /// The mask pattern, 0...7, chosen for the lowest penalty score.
    public let mask: Int
    private let modules: [Bool]

    /// Encodes the UTF-8 bytes of `text`; throws when even version 40 cannot hold them.
    public init(_ text: String, correction: Correction = .medium) throws(QRCodeError) {
        let bytes = Array(text.utf8)
        guard let version = Self.versions.first(where: { bytes.count <= Self.byteCapacity(version: $0, correction: correction) }) else {
            throw QRCodeError.tooLong(byteCount: bytes.count, maximum: Self.byteCapacity(version: Self.versions.upperBound, correction: correction))
        }
        var matrix = QRMatrix(version: version)
        matrix.place(Self.codewords(for: bytes, version: version, correction: correction))
        let scores = (0..<8).map { mask in
            var candidate = matrix
            candidate.applyMask(mask)
            candidate.drawFormatInformation(correction: correction, mask: mask)
            return candidate.penalty()
        }
        let mask = scores.indices.min { scores[$0] < scores[$1] } ?? 0
        matrix.applyMask(mask)
        matrix.drawFormatInformation(correction: correction, mask: mask)
        self.size = matrix.side
        self.version = version
        self.correction = correction
        self.mask = mask
        self.modules = matrix.dark
    }

    /// Whether the module at column `x`, row `y` (both 0..<size, origin top-left) is dark.
    public func isDark(x: Int, y: Int) -> Bool {
        modules[y * size + x]
    }
}
