/// Ways to show a symbol: half-block text for a terminal and a greyscale image.
extension QRCode {
    /// The symbol as text for a dark terminal, two module rows per line, ending in a newline.
    ///
    /// The block glyphs paint the light modules and the quiet zone of `quietZone` modules; dark modules are
    /// spaces, left in the terminal's own dark background, so the code scans whatever colours the terminal uses
    /// for text. Each line is `size + 2 * quietZone` characters wide.
    public func terminalRendering(quietZone: Int = 2) -> String {
        let extent = size + 2 * quietZone
        var text = ""
        for top in stride(from: 0, to: extent, by: 2) {
            for column in 0..<extent {
                let upperLight = isLight(column - quietZone, top - quietZone)
                let lowerLight = top + 1 < extent && isLight(column - quietZone, top + 1 - quietZone)
                switch (upperLight, lowerLight) {
                case (true, true): text += "█"
                case (true, false): text += "▀"
                case (false, true): text += "▄"
                case (false, false): text += " "
                }
            }
            text += "\n"
        }
        return text
    }

    /// The symbol as a binary PGM (P5) image: dark modules black on white, `scale` pixels per module,
    /// surrounded by a quiet zone of `quietZone` modules.
    public func pgm(scale: Int = 4, quietZone: Int = 4) -> [UInt8] {
        let pixels = (size + 2 * quietZone) * scale
        var image = Array("P5\n\(pixels) \(pixels)\n255\n".utf8)
        image.reserveCapacity(image.count + pixels * pixels)
        for row in 0..<pixels {
            for column in 0..<pixels {
                image.append(isLight(column / scale - quietZone, row / scale - quietZone) ? 255 : 0)
            }
        }
        return image
    }

    /// Whether the module at (`x`, `y`) is light; everything outside the symbol is quiet zone, so light.
    private func isLight(_ x: Int, _ y: Int) -> Bool {
        guard (0..<size).contains(x), (0..<size).contains(y) else { return true }
        return !isDark(x: x, y: y)
    }
}
