/// A Reed–Solomon encoder over GF(256) that makes the error correction codewords of one QR block.
struct ReedSolomon {
    /// Coefficients of the generator polynomial (x - α^0)(x - α^1)...(x - α^(degree-1)),
    /// highest power first, the leading 1 left out.
    let generator: [UInt8]

    /// An encoder that appends `degree` error correction codewords.
    init(degree: Int) {
        var polynomial: [UInt8] = [1]
        for power in 0..<degree {
            let root = GaloisField256.exponents[power]
            var product = [UInt8](repeating: 0, count: polynomial.count + 1)
            for (index, coefficient) in polynomial.enumerated() {
                product[index] ^= coefficient
                product[index + 1] ^= GaloisField256.multiply(coefficient, root)
            }
            polynomial = product
        }
        generator = Array(polynomial.dropFirst())
    }

    /// The remainder of `data` · x^degree divided by the generator: the block's error correction codewords.
    func remainder(of data: [UInt8]) -> [UInt8] {
        var remainder = [UInt8](repeating: 0, count: generator.count)
        for byte in data {
            let factor = byte ^ remainder[0]
            remainder.removeFirst()
            remainder.append(0)
            for index in generator.indices {
                remainder[index] ^= GaloisField256.multiply(generator[index], factor)
            }
        }
        return remainder
    }
}
