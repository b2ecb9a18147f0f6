import CaucusLock
import Testing
@testable import CaucusTerminal

@Suite("QR codes")
struct QRCodeTests {
    static let base58 = Array("123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz")

    /// `count` base58 characters from a fixed walk through the alphabet.
    static func base58Text(_ count: Int) -> String {
        String((0..<count).map { base58[($0 * 37 + 11) % base58.count] })
    }

    /// An invite-like text: the prefix and then `count` base58 characters.
    static func invite(_ count: Int) -> String {
        "caucus-invite:1:" + base58Text(count)
    }

    /// The code for `text`, made off Swift's cooperative pool: choosing the mask of a large code
    /// takes long enough that, on its two threads (CI has two cores), it stalled every other test
    /// of the process for seconds.
    static func code(_ text: String, correction: QRCode.Correction = .medium) async throws -> QRCode {
        try await offCooperativePool { () throws(QRCodeError) -> QRCode in try QRCode(text, correction: correction) }
    }

    @Test("a short text decodes back with zbar", .disabled(if: ZBar.isMissing))
    func shortText() async throws {
        let code = try await Self.code("hello, fellow workers")
        #expect(code.version == 2)
        #expect(code.size == 25)
        #expect(try await ZBar.decode(code) == "hello, fellow workers")
    }

    @Test("a 120-byte invite fits version 7 at level M and decodes back", .disabled(if: ZBar.isMissing))
    func invite() async throws {
        let text = Self.invite(104)
        #expect(text.utf8.count == 120)
        let code = try await Self.code(text)
        #expect(code.version == 7)
        #expect(try await ZBar.decode(code) == text)
    }

    @Test("every correction level decodes back", .disabled(if: ZBar.isMissing), arguments: QRCode.Correction.allCases)
    func levels(_ correction: QRCode.Correction) async throws {
        let text = Self.invite(100)
        let code = try await Self.code(text, correction: correction)
        #expect(code.correction == correction)
        #expect(try await ZBar.decode(code) == text)
    }

    @Test("texts that need version 7 and above carry version information zbar accepts", .disabled(if: ZBar.isMissing))
    func versionInformation() async throws {
        for length in [160, 300, 500] {
            let text = Self.invite(length)
            let code = try await Self.code(text)
            #expect(code.version >= 7)
            #expect(try await ZBar.decode(code) == text)
        }
    }

    @Test("every version 1...40 filled to capacity decodes back, the levels taken in turn", .disabled(if: ZBar.isMissing))
    func everyVersion() async throws {
        for version in QRCode.versions {
            let correction = QRCode.Correction.allCases[version % 4]
            let text = Self.base58Text(QRCode.byteCapacity(version: version, correction: correction))
            let code = try await Self.code(text, correction: correction)
            #expect(code.version == version)
            #expect(try await ZBar.decode(code, scale: 3) == text, "version \(version)")
        }
    }

    @Test("UTF-8 text decodes back", .disabled(if: ZBar.isMissing))
    func utf8() async throws {
        let text = "Streik! ✊ Grève générale"
        #expect(try await ZBar.decode(Self.code(text)) == text)
    }

    @Test("the smallest version that fits is chosen, by the capacity table of ISO/IEC 18004")
    func capacities() async throws {
        let mediumBytes = [14, 26, 42, 62, 84, 106, 122, 152, 180, 213]
        for (index, capacity) in mediumBytes.enumerated() {
            #expect(try await Self.code(String(repeating: "a", count: capacity)).version == index + 1)
            #expect(try await Self.code(String(repeating: "a", count: capacity + 1)).version == index + 2)
        }
        #expect(QRCode.byteCapacity(version: 40, correction: .low) == 2953)
        #expect(QRCode.byteCapacity(version: 40, correction: .medium) == 2331)
        #expect(QRCode.byteCapacity(version: 40, correction: .quartile) == 1663)
        #expect(QRCode.byteCapacity(version: 40, correction: .high) == 1273)
        #expect(QRCode.byteCapacity(version: 1, correction: .high) == 7)
    }

    @Test("alignment pattern centres match annex E")
    func alignmentCentres() {
        #expect(QRCode.alignmentCentres(version: 1) == [])
        #expect(QRCode.alignmentCentres(version: 2) == [6, 18])
        #expect(QRCode.alignmentCentres(version: 7) == [6, 22, 38])
        #expect(QRCode.alignmentCentres(version: 15) == [6, 26, 48, 70])
        #expect(QRCode.alignmentCentres(version: 32) == [6, 34, 60, 86, 112, 138])
        #expect(QRCode.alignmentCentres(version: 36) == [6, 24, 50, 76, 102, 128, 154])
        #expect(QRCode.alignmentCentres(version: 40) == [6, 30, 58, 86, 114, 142, 170])
    }

    @Test("format and version BCH codes match the annex examples")
    func bchCodes() {
        #expect(BCH.remainder(of: 0b00101, dataBits: 5, generator: 0x537, checkBits: 10) == 0b0011011100)
        #expect(BCH.remainder(of: 7, dataBits: 6, generator: 0x1F25, checkBits: 12) == 0xC94)
        #expect(BCH.remainder(of: 40, dataBits: 6, generator: 0x1F25, checkBits: 12) == 0xC69)
    }

    @Test("Reed–Solomon codewords of the annex I example (1-M, \"01234567\")")
    func reedSolomon() {
        let data: [UInt8] = [0x10, 0x20, 0x0C, 0x56, 0x61, 0x80, 0xEC, 0x11, 0xEC, 0x11, 0xEC, 0x11, 0xEC, 0x11, 0xEC, 0x11]
        #expect(ReedSolomon(degree: 10).remainder(of: data) == [0xA5, 0x24, 0xD4, 0xC1, 0xED, 0x36, 0xC7, 0x87, 0x2C, 0x55])
    }

    @Test("text beyond version 40 throws, naming the limit")
    func tooLong() {
        #expect(throws: QRCodeError.tooLong(byteCount: 2332, maximum: 2331)) {
            try QRCode(String(repeating: "x", count: 2332))
        }
        #expect(throws: QRCodeError.tooLong(byteCount: 1274, maximum: 1273)) {
            try QRCode(String(repeating: "x", count: 1274), correction: .high)
        }
    }

    @Test("the terminal rendering has one line per two module rows and paints the light modules")
    func terminalRendering() throws {
        let code = try QRCode("hi")
        #expect(code.size == 21)
        let rendering = code.terminalRendering(quietZone: 2)
        #expect(rendering.hasSuffix("\n"))
        let lines = rendering.split(separator: "\n").map(Array.init)
        #expect(lines.count == 13)
        #expect(lines.allSatisfy { $0.count == 25 })
        #expect(lines[0].allSatisfy { $0 == "█" })  // quiet zone rows
        #expect(lines[12].allSatisfy { $0 == "▀" })  // the last quiet row over the terminal's own background
        // Rows 0 and 1 of the symbol: the finder's outer dark ring, then its light inner ring.
        #expect(Array(lines[1][0..<9]) == ["█", "█", " ", "▄", "▄", "▄", "▄", "▄", " "])
        for (index, line) in lines.enumerated() {
            for (column, glyph) in line.enumerated() {
                let upper = Self.light(code, column - 2, index * 2 - 2)
                let lower = index * 2 - 1 < code.size + 2 && Self.light(code, column - 2, index * 2 - 1)
                #expect(glyph == (upper ? (lower ? "█" : "▀") : (lower ? "▄" : " ")))
            }
        }
    }

    @Test("the terminal rendering, as a dark terminal shows it, decodes back", .disabled(if: ZBar.isMissing))
    func terminalRenderingScans() async throws {
        let text = Self.invite(104)
        let lines = try QRCode(text).terminalRendering().split(separator: "\n").map(Array.init)
        let scale = 4
        let width = lines[0].count * scale
        var image = Array("P5\n\(width) \(lines.count * 2 * scale)\n255\n".utf8)
        for line in lines {
            for upper in [true, false] {
                let row = line.flatMap { glyph -> [UInt8] in
                    let painted = glyph == "█" || glyph == (upper ? "▀" : "▄")
                    return [UInt8](repeating: painted ? 255 : 0, count: scale)
                }
                for _ in 0..<scale {
                    image += row
                }
            }
        }
        #expect(try await ZBar.decode(image) == text)
    }

    @Test("the PGM image is black modules on white with the quiet zone")
    func pgm() throws {
        let code = try QRCode("hi")
        let image = code.pgm(scale: 2, quietZone: 4)
        let header = Array("P5\n58 58\n255\n".utf8)
        #expect(Array(image.prefix(header.count)) == header)
        let pixels = Array(image.dropFirst(header.count))
        #expect(pixels.count == 58 * 58)
        #expect(pixels[0] == 255)
        #expect(pixels[8 * 58 + 8] == 0)  // the top-left finder corner
        #expect(pixels[(8 + 2 * 2) * 58 + 8 + 2 * 2] == 0)  // the finder's centre
        #expect(pixels[(8 + 2) * 58 + 8 + 2] == 255)  // its light ring
    }

    static func light(_ code: QRCode, _ x: Int, _ y: Int) -> Bool {
        guard (0..<code.size).contains(x), (0..<code.size).contains(y) else { return true }
        return !code.isDark(x: x, y: y)
    }
}
