import Foundation

/// What TLS tests need: a self-signed certificate for localhost.
public enum TestCertificate {
    /// Why a test fixture could not be made.
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// A self-signed certificate for localhost and its key, as PEM files in `directory`.
    public static func make(in directory: TempDirectory) throws -> (certificate: String, key: String) {
        let certificate = directory.file("cert.pem"), key = directory.file("key.pem")
        let openssl = Process()
        openssl.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        openssl.arguments = ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                             "-nodes", "-keyout", key, "-out", certificate, "-days", "1", "-subj", "/CN=localhost",
                             "-addext", "subjectAltName=DNS:localhost"]
        openssl.standardOutput = FileHandle.nullDevice
        openssl.standardError = FileHandle.nullDevice
        try openssl.run()
        openssl.waitUntilExit()
        guard openssl.terminationStatus == 0 else {
            throw Failure(description: "openssl could not make a certificate (scripts/test installs openssl)")
        }
        return (certificate, key)
    }
}
