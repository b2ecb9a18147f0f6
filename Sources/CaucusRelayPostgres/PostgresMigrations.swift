import Foundation
import Logging
import PostgresNIO

/// The PostgreSQL store's schema: named, append-only migrations applied in order when a relay
/// starts. `caucus_schema_migrations` records each one applied; a transaction-scoped advisory
/// lock lets one instance at a time migrate, so instances may start together.
enum PostgresMigrations {
    struct Migration {
        let version: Int
        let name: String
        let sql: [String]
    }

    /// Key of the advisory lock taken while migrating (ASCII "CAUC", then 1).
    static let lockKey: (Int32, Int32) = (0x4341_5543, 1)

    static let all: [Migration] = [
        Migration(version: 1, name: "mailboxes, groups, prekeys, blobs, card inboxes", sql: [
            """
            CREATE TABLE devices (
                id BIGSERIAL PRIMARY KEY,
                key BYTEA NOT NULL UNIQUE,
                pending BIGINT NOT NULL DEFAULT 0
            )
            """,
            """
            CREATE TABLE messages (
                id BIGSERIAL PRIMARY KEY,
                message_id BYTEA NOT NULL UNIQUE,
                payload BYTEA,
                group_id BYTEA,
                accepted_at BIGINT NOT NULL,
                expires_at BIGINT NOT NULL,
                remaining BIGINT NOT NULL
            )
            """,
            "CREATE INDEX messages_expiry ON messages (expires_at)",
            """
            CREATE TABLE deliveries (
                seq BIGSERIAL PRIMARY KEY,
                device BIGINT NOT NULL REFERENCES devices (id),
                message BIGINT NOT NULL REFERENCES messages (id) ON DELETE CASCADE
            )
            """,
            "CREATE UNIQUE INDEX deliveries_device ON deliveries (device, seq)",
            "CREATE UNIQUE INDEX deliveries_message ON deliveries (message, device)",
            """
            CREATE TABLE groups (
                id BIGSERIAL PRIMARY KEY,
                group_id BYTEA NOT NULL UNIQUE,
                serial BIGINT NOT NULL,
                admin_key BYTEA NOT NULL
            )
            """,
            """
            CREATE TABLE group_members (
                grp BIGINT NOT NULL REFERENCES groups (id),
                device BIGINT NOT NULL REFERENCES devices (id),
                PRIMARY KEY (grp, device)
            )
            """,
            """
            CREATE TABLE signed_prekeys (
                owner BIGINT PRIMARY KEY REFERENCES devices (id),
                data BYTEA NOT NULL
            )
            """,
            """
            CREATE TABLE one_time_prekeys (
                owner BIGINT NOT NULL REFERENCES devices (id),
                key_id BIGINT NOT NULL,
                public_key BYTEA NOT NULL,
                PRIMARY KEY (owner, key_id)
            )
            """,
            """
            CREATE TABLE blobs (
                id BIGSERIAL PRIMARY KEY,
                blob_id BYTEA NOT NULL UNIQUE,
                owner BIGINT NOT NULL REFERENCES devices (id),
                size BIGINT NOT NULL,
                complete BOOLEAN NOT NULL,
                created_at BIGINT NOT NULL,
                expires_at BIGINT NOT NULL
            )
            """,
            "CREATE INDEX blobs_owner ON blobs (owner)",
            "CREATE INDEX blobs_expiry ON blobs (expires_at)",
            """
            CREATE TABLE blob_chunks (
                blob BIGINT NOT NULL REFERENCES blobs (id) ON DELETE CASCADE,
                position BIGINT NOT NULL,
                length BIGINT NOT NULL,
                data BYTEA NOT NULL,
                PRIMARY KEY (blob, position)
            )
            """,
            """
            CREATE TABLE card_items (
                seq BIGSERIAL PRIMARY KEY,
                inbox BYTEA NOT NULL,
                item_id BYTEA NOT NULL,
                sealed BYTEA NOT NULL,
                posted_at BIGINT NOT NULL,
                UNIQUE (inbox, item_id)
            )
            """,
            "CREATE INDEX card_items_inbox ON card_items (inbox, seq)",
        ]),
        // Devices the operator banned (`caucus-relay ban`), by key, whether or not the key has a row.
        Migration(version: 2, name: "bans", sql: [
            """
            CREATE TABLE bans (
                key BYTEA PRIMARY KEY,
                banned_at BIGINT NOT NULL
            )
            """,
        ]),
        // Device chains (Protocol.md §2.2, §7.8): each identity's entries as published, and on
        // every device row its owner's row (NULL: no chain lists it), its kind and whether it is
        // revoked; `chained` marks an identity that has published a chain.
        Migration(version: 3, name: "devices", sql: [
            """
            ALTER TABLE devices
                ADD COLUMN owner BIGINT REFERENCES devices (id),
                ADD COLUMN kind SMALLINT NOT NULL DEFAULT 1,
                ADD COLUMN revoked BOOLEAN NOT NULL DEFAULT false,
                ADD COLUMN chained BOOLEAN NOT NULL DEFAULT false
            """,
            "CREATE INDEX devices_owner ON devices (owner) WHERE owner IS NOT NULL",
            """
            CREATE TABLE device_chains (
                identity BIGINT NOT NULL REFERENCES devices (id),
                seq INTEGER NOT NULL,
                entry BYTEA NOT NULL,
                PRIMARY KEY (identity, seq)
            )
            """,
        ]),
        // Recovery boxes (Protocol.md §7.8): what each paper key opens, sealed by its owner's client.
        Migration(version: 4, name: "recovery boxes", sql: [
            """
            CREATE TABLE recovery_boxes (
                paper BIGINT PRIMARY KEY REFERENCES devices (id),
                sealed BYTEA NOT NULL,
                updated_at BIGINT NOT NULL
            )
            """,
        ]),
        // KEM prekeys (Protocol.md §7.5), opaque: each device's last-resort one, and its one-time
        // ones in the order they came (the oldest of a device has its lowest `seq`).
        Migration(version: 5, name: "KEM prekeys", sql: [
            """
            CREATE TABLE kem_last_resort_prekeys (
                owner BIGINT PRIMARY KEY REFERENCES devices (id),
                data BYTEA NOT NULL
            )
            """,
            """
            CREATE TABLE kem_one_time_prekeys (
                seq BIGSERIAL PRIMARY KEY,
                owner BIGINT NOT NULL REFERENCES devices (id),
                data BYTEA NOT NULL
            )
            """,
            "CREATE INDEX kem_one_time_prekeys_owner ON kem_one_time_prekeys (owner, seq)",
        ]),
    ]

    /// The newest version this relay knows.
    static var latest: Int { all.last?.version ?? 0 }

    /// Applies the migrations the database lacks; refuses a database migrated past `latest`.
    static func migrate(_ store: PostgresRelayStore) async throws {
        let logger = store.logger
        try await store.transaction { connection in
            try await connection.query("SELECT pg_advisory_xact_lock(\(lockKey.0), \(lockKey.1))", logger: logger)
            try await connection.query("""
                CREATE TABLE IF NOT EXISTS caucus_schema_migrations (
                    version BIGINT PRIMARY KEY,
                    name TEXT NOT NULL,
                    applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
                )
                """, logger: logger)
            let applied = try await PostgresRelayStore.rows(
                "SELECT COALESCE(MAX(version), 0) FROM caucus_schema_migrations", on: connection, logger: logger, as: Int.self)
            let current = applied.first ?? 0
            guard current <= latest else { throw PostgresStoreError.schemaTooNew(found: current, known: latest) }
            for migration in all where migration.version > current {
                for statement in migration.sql {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
                try await connection.query("""
                    INSERT INTO caucus_schema_migrations (version, name) VALUES (\(migration.version), \(migration.name))
                    """, logger: logger)
                logger.notice("applied store migration", metadata: ["version": "\(migration.version)", "name": "\(migration.name)"])
            }
        }
    }
}
