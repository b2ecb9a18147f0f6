// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "Caucus",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "CaucusIdentity", targets: ["CaucusIdentity"]),
        .library(name: "CaucusCrypto", targets: ["CaucusCrypto"]),
        .library(name: "CaucusKeystore", targets: ["CaucusKeystore"]),
        .library(name: "CaucusProtocol", targets: ["CaucusProtocol"]),
        .library(name: "CaucusRelay", targets: ["CaucusRelay"]),
        .library(name: "CaucusRelayPostgres", targets: ["CaucusRelayPostgres"]),
        .library(name: "CaucusRelayClient", targets: ["CaucusRelayClient"]),
        .library(name: "CaucusClient", targets: ["CaucusClient"]),
        .library(name: "CaucusText", targets: ["CaucusText"]),
        .library(name: "CaucusTerminal", targets: ["CaucusTerminal"]),
        .executable(name: "caucus", targets: ["caucus"]),
        .executable(name: "caucus-relay", targets: ["caucus-relay"]),
    ],
    dependencies: [
        .package(url: "https://github.com/x-sheep/swift-property-based.git", from: "2.0.1"),
        .package(url: "https://github.com/apple/swift-protobuf.git", from: "1.39.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket.git", from: "2.8.1"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
    ],
    targets: [
        // libsodium, the only source of cryptographic primitives.
        .systemLibrary(
            name: "CSodium",
            pkgConfig: "libsodium",
            providers: [.apt(["libsodium-dev"])]
        ),
        // The one lock Caucus uses: a value behind a pthread mutex, which ThreadSanitizer sees.
        .target(name: "CaucusLock"),
        // Keys, signatures over canonical bytes, DIDs, hashing, randomness, locked memory: the part
        // of the crypto core the relay may use. Pure, no I/O.
        .target(
            name: "CaucusIdentity",
            dependencies: ["CSodium", "CaucusLock"]
        ),
        // The rest of the crypto core: AEAD, sealed boxes, KDFs, passphrases, the keystore format,
        // sessions and groups (everything that opens messages). Pure, no I/O. ML-KEM-768 comes from
        // swift-crypto (the one primitive libsodium lacks), used in one file (KEM/MLKEM.swift).
        .target(
            name: "CaucusCrypto",
            dependencies: ["CSodium", "CaucusIdentity", .product(name: "Crypto", package: "swift-crypto")]
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
            dependencies: ["CaucusProtocol", "CaucusCrypto", "CaucusBenchC", "CSodium"]
        ),
        // The relay's wire messages (generated from caucus_relay.proto by scripts/regen-proto) and error codes.
        .target(
            name: "CaucusProtocol",
            dependencies: [
                "CaucusIdentity",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            exclude: ["caucus_relay.proto"]
        ),
        // The relay: store protocol, SQLite store, WebSocket server. Holds no message or card keys.
        .target(
            name: "CaucusRelay",
            dependencies: [
                "CaucusLock",
                "CaucusIdentity",
                "CaucusProtocol",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        // The relay's PostgreSQL store: several relay instances share one database.
        .target(
            name: "CaucusRelayPostgres",
            dependencies: [
                "CaucusLock",
                "CaucusRelay",
                "CaucusProtocol",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        // A client of the relay's wire protocol over WebSocket (ws:// and wss://).
        .target(
            name: "CaucusRelayClient",
            dependencies: [
                "CaucusLock",
                "CaucusIdentity",
                "CaucusProtocol",
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ]
        ),
        // What clients send each other inside sessions and groups (Protocol.md §9.1–§9.5): the
        // payload codec and invite codes. Pure: no I/O, no store.
        .target(
            name: "CaucusPayloads",
            dependencies: ["CaucusCrypto"]
        ),
        // The client's encrypted local store (Protocol.md §9.9): every table, every SQL
        // statement and every seal, behind typed records. No network, no protocol decisions.
        .target(
            name: "CaucusClientStore",
            dependencies: [
                "CaucusLock",
                "CaucusCrypto",
                "CaucusPayloads",
                .product(name: "GRDB", package: "GRDB.swift"),
            ]
        ),
        // The client engine: identity, sessions and groups over the relay, invites, files, cards,
        // on top of the store. Everything the `caucus` command does lives here.
        .target(
            name: "CaucusClient",
            dependencies: [
                "CaucusLock",
                "CaucusCrypto",
                "CaucusClientStore",
                "CaucusKeystore",
                "CaucusProtocol",
                "CaucusPayloads",
                "CaucusRelayClient",
                "CaucusText",
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        // The agent: the unlocked account in a process of its own, reached over a Unix socket
        // with JSON-RPC 2.0 (by `caucus` commands and by bots).
        .target(
            name: "CaucusAgent",
            dependencies: [
                "CaucusClient",
                "CaucusIdentity",
                "CaucusLock",
                "CaucusText",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        // Text others chose, made safe to show and to compare: the one terminal sanitiser, and
        // confusable names (Unicode TS #39 skeletons from Unicode's data). No Caucus knowledge.
        .target(name: "CaucusText"),
        // Terminal pieces with no Caucus knowledge: raw mode, a line editor, the chat screen, QR codes.
        .target(name: "CaucusTerminal", dependencies: ["CaucusText"]),
        // The terminal client workers and organizers use.
        .executableTarget(
            name: "caucus",
            dependencies: [
                "CaucusProtocol",
                "CaucusAgent",
                "CaucusClient",
                "CaucusCrypto",
                "CaucusLock",
                "CaucusTerminal",
                "CaucusText",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        // The relay daemon operators run.
        .executableTarget(
            name: "caucus-relay",
            dependencies: [
                "CaucusLock",
                "CaucusProtocol",
                "CaucusRelay",
                "CaucusRelayPostgres",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        // Times the card tally against the C baseline in one run, or the CLI's tally through a real relay (scripts/bench-cards).
        .executableTarget(
            name: "caucus-bench-cards",
            dependencies: ["CaucusBenchC", "CaucusClient", "CaucusCrypto", "CaucusLock", "CaucusProtocol", "CaucusRelayClient",
                           "CaucusTestSupport"]
        ),
        // What one group message costs the sending client at 10 and at 10,000 members (scripts/bench-group).
        .executableTarget(
            name: "caucus-bench-group",
            dependencies: ["CaucusClient", "CaucusCrypto", "CaucusProtocol"]
        ),
        // What several devices per member cost the sending client: a message, and removing a device (scripts/bench-devices).
        .executableTarget(
            name: "caucus-bench-devices",
            dependencies: ["CaucusClient", "CaucusCrypto", "CaucusProtocol"]
        ),
        // Linux's epoll for the benchmark's lean load generator (Glibc does not export it).
        .systemLibrary(name: "CBenchEpoll"),
        // Load generator for scripts/bench-relay.
        .executableTarget(
            name: "caucus-bench-relay",
            dependencies: [
                "CaucusIdentity",
                "CaucusLock",
                "CaucusRelay",
                "CaucusRelayPostgres",
                "CaucusRelayClient",
                "CaucusProtocol",
                "CaucusCrypto",
                "CaucusTestSupport",
                "CBenchEpoll",
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Load and faults against a real caucus-relay process (scripts/soak), with one real client
        // whose disk fills up (a tmpfs from CaucusTestSupport, which holds no test framework).
        .executableTarget(
            name: "caucus-soak",
            dependencies: [
                "CaucusClient",
                "CaucusLock",
                "CaucusCrypto",
                "CaucusProtocol",
                "CaucusRelayClient",
                "CaucusTestSupport",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]
        ),
        // Helpers shared by test targets and the soak: temporary directories, a relay on loopback, a
        // disk that fills up. No test framework: executables may depend on it.
        .target(
            name: "CaucusTestSupport",
            dependencies: [
                "CaucusLock",
                "CaucusProtocol",
                "CaucusRelay",
                "CaucusRelayPostgres",
                "CaucusRelayClient",
                "CaucusCrypto",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "CaucusRelayTests",
            dependencies: [
                // The two-instance tests run the built relay daemon: build it with the tests.
                "caucus-relay",
                "CaucusTestSupport",
                "CaucusLock",
                "CaucusRelay",
                "CaucusRelayPostgres",
                "CaucusRelayClient",
                "CaucusProtocol",
                "CaucusCrypto",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "CaucusCryptoTests",
            dependencies: [
                "CaucusCrypto",
                "CaucusIdentity",
                "CaucusLock",
                // vectors/sessions.json also holds the relay's authentication statement (Protocol.md
                // 7.3) and the pairwise envelope (9.2) around a session message.
                "CaucusPayloads",
                "CaucusProtocol",
                // The Python vector checkers run as bounded child processes (ChildProcess).
                "CaucusTestSupport",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ]
        ),
        .testTarget(
            name: "CaucusClientTests",
            dependencies: [
                // The CLI and chat tests run the built binary: build it with the tests.
                "caucus",
                "CaucusAgent", "CaucusClient", "CaucusClientStore", "CaucusCrypto", "CaucusLock", "CaucusPayloads", "CaucusRelay", "CaucusRelayClient",
                "CaucusTestSupport",
                "CaucusProtocol", "CaucusText",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        .testTarget(
            name: "CaucusLockTests",
            dependencies: ["CaucusLock"]
        ),
        .testTarget(
            name: "CaucusTerminalTests",
            dependencies: ["CaucusLock", "CaucusTerminal", "CaucusText"]
        ),
        .testTarget(
            name: "CaucusTextTests",
            dependencies: ["CaucusText"]
        ),
        .testTarget(
            name: "CaucusKeystoreTests",
            dependencies: ["CaucusKeystore", "CaucusCrypto"]
        ),
        // Fuzz targets for every decoder of untrusted bytes, and the seeded random-input harness
        // (scripts/fuzz; a short run of each is part of the test suite).
        .target(
            name: "CaucusFuzz",
            dependencies: [
                "CaucusCrypto", "CaucusClient", "CaucusLock", "CaucusPayloads", "CaucusProtocol", "CaucusRelay",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ]
        ),
        // The fuzz driver: a libFuzzer binary when built by scripts/fuzz, else replay and random runs.
        .executableTarget(
            name: "caucus-fuzz",
            dependencies: ["CaucusProtocol", "CaucusFuzz"]
        ),
        .testTarget(
            name: "CaucusFuzzTests",
            dependencies: ["CaucusFuzz", "CaucusCrypto", "CaucusClient", "CaucusPayloads"],
            exclude: ["Regressions"]
        ),
        .testTarget(
            name: "CaucusPayloadsTests",
            dependencies: ["CaucusPayloads", "CaucusCrypto"]
        ),
        .testTarget(
            name: "CaucusClientStoreTests",
            dependencies: ["CaucusClientStore", "CaucusCrypto", "CaucusTestSupport", .product(name: "GRDB", package: "GRDB.swift")]
        ),
    ]
)
