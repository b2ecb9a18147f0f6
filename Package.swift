// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "Caucus",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "CaucusCrypto", targets: ["CaucusCrypto"]),
        .library(name: "CaucusKeystore", targets: ["CaucusKeystore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/x-sheep/swift-property-based.git", from: "2.0.1"),
    ],
    targets: [
        // libsodium, the only source of cryptographic primitives.
        .systemLibrary(
            name: "CSodium",
            pkgConfig: "libsodium",
            providers: [.apt(["libsodium-dev"])]
        ),
        // The crypto core: identities, DIDs, AEAD, KDFs, canonical signing. Pure, no I/O.
        .target(
            name: "CaucusCrypto",
            dependencies: ["CSodium"]
        ),
        // The passphrase-sealed identity file on disk (atomic, mode 0600).
        .target(
            name: "CaucusKeystore",
            dependencies: ["CaucusCrypto"]
        ),
        // Plain C loops over libsodium: the baseline for scripts/bench-crypto.
        .target(
            name: "CaucusBenchC",
            dependencies: ["CSodium"]
        ),
        // Times the crypto core against the C baseline in one run and prints ratios.
        .executableTarget(
            name: "caucus-bench-crypto",
            dependencies: ["CaucusCrypto", "CaucusBenchC"]
        ),
        .testTarget(
            name: "CaucusCryptoTests",
            dependencies: [
                "CaucusCrypto",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ]
        ),
        .testTarget(
            name: "CaucusKeystoreTests",
            dependencies: ["CaucusKeystore", "CaucusCrypto"]
        ),
    ]
)
