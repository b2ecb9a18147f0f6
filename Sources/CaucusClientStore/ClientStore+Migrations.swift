import GRDB

extension ClientStore {
    /// Schema changes, append-only.
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
                CREATE TABLE relays (url TEXT PRIMARY KEY, position INTEGER NOT NULL);
                CREATE TABLE prekeys (kind INTEGER NOT NULL, id INTEGER NOT NULL, sealed BLOB NOT NULL,
                                      created_at INTEGER NOT NULL, PRIMARY KEY (kind, id));
                CREATE TABLE sessions (peer BLOB PRIMARY KEY, sealed BLOB NOT NULL);
                CREATE TABLE contacts (tag BLOB PRIMARY KEY, sealed BLOB NOT NULL);
                CREATE TABLE groups (tag BLOB PRIMARY KEY, info BLOB NOT NULL, state BLOB NOT NULL, routing BLOB);
                CREATE TABLE conversations (tag BLOB PRIMARY KEY, sealed BLOB NOT NULL);
                CREATE TABLE messages (seq INTEGER PRIMARY KEY AUTOINCREMENT, conversation BLOB NOT NULL,
                                       sealed BLOB NOT NULL, at INTEGER NOT NULL, unread INTEGER NOT NULL,
                                       expires_at INTEGER);
                CREATE INDEX messages_by_conversation ON messages (conversation, seq);
                CREATE INDEX messages_unread ON messages (unread) WHERE unread = 1;
                CREATE INDEX messages_expiry ON messages (expires_at) WHERE expires_at IS NOT NULL;
                CREATE TABLE files (short TEXT PRIMARY KEY, conversation BLOB NOT NULL, sealed BLOB NOT NULL,
                                    expires_at INTEGER);
                CREATE TABLE processed (id BLOB PRIMARY KEY, at INTEGER NOT NULL);
                CREATE TABLE outbox (id BLOB PRIMARY KEY, sealed BLOB NOT NULL, created_at INTEGER NOT NULL,
                                     expires_at INTEGER);
                CREATE TABLE invites (id BLOB PRIMARY KEY, sealed BLOB NOT NULL, expires_at INTEGER NOT NULL,
                                      used INTEGER NOT NULL DEFAULT 0);
                CREATE TABLE deferred (id BLOB PRIMARY KEY, sealed BLOB NOT NULL, at INTEGER NOT NULL);
                """)
        }
        migrator.registerMigration("v2-campaigns") { db in
            try db.execute(sql: """
                CREATE TABLE campaigns (tag BLOB PRIMARY KEY, record BLOB NOT NULL, card_key BLOB,
                                        conversation BLOB NOT NULL, at INTEGER NOT NULL);
                CREATE TABLE my_cards (item_id BLOB PRIMARY KEY, campaign BLOB NOT NULL, sealed BLOB NOT NULL,
                                       at INTEGER NOT NULL);
                """)
        }
        migrator.registerMigration("v3-receipts") { db in
            try db.execute(sql: """
                CREATE TABLE receipts_sent (tag BLOB PRIMARY KEY, at INTEGER NOT NULL);
                CREATE TABLE my_receipts (tag BLOB PRIMARY KEY, campaign BLOB NOT NULL, sealed BLOB NOT NULL);
                """)
        }
        migrator.registerMigration("v4-early-epoch-keys") { db in
            // Epoch keys that came before the membership change they belong to (§9.3).
            try db.execute(sql: """
                CREATE TABLE early_epoch_keys (tag BLOB PRIMARY KEY, group_tag BLOB NOT NULL, author BLOB NOT NULL,
                                               sealed BLOB NOT NULL, at INTEGER NOT NULL);
                """)
        }
        migrator.registerMigration("v5-kept-epoch-keys") { db in
            // The epoch keys of this admin's removals, handed out again after a relay restore (§9.10).
            try db.execute(sql: """
                CREATE TABLE kept_epoch_keys (tag BLOB PRIMARY KEY, sealed BLOB NOT NULL, at INTEGER NOT NULL);
                """)
        }
        migrator.registerMigration("v6-unopened-deliveries") { db in
            // Relay message ids whose copies failed to open so far, and how often (§9.6).
            try db.execute(sql: """
                CREATE TABLE unopened (id BLOB PRIMARY KEY, attempts INTEGER NOT NULL, at INTEGER NOT NULL);
                """)
        }
        migrator.registerMigration("v7-unconfirmed-starts") { db in
            // Texts and file offers sent as session starts the peer has not answered in yet, kept
            // sealed to be sent again if the peer could not open them (§9.6).
            try db.execute(sql: """
                CREATE TABLE unconfirmed_starts (seq INTEGER PRIMARY KEY AUTOINCREMENT, peer BLOB NOT NULL,
                                                 sealed BLOB NOT NULL, at INTEGER NOT NULL);
                CREATE INDEX unconfirmed_starts_peer ON unconfirmed_starts (peer, seq);
                """)
        }
        migrator.registerMigration("v8-receipts-due") { db in
            // Receipts the organizers' last `cards receipts` found due and has not sent yet (§10.6).
            try db.execute(sql: """
                CREATE TABLE receipts_due (tag BLOB PRIMARY KEY, campaign BLOB NOT NULL, sealed BLOB NOT NULL, at INTEGER NOT NULL);
                CREATE INDEX receipts_due_campaign ON receipts_due (campaign);
                """)
        }
        migrator.registerMigration("v9-tally-proofs") { db in
            // A signer's newest tally proof per card (tag of the card hash), and, on an organizer's
            // side, the statement root each card's signer was last sent a proof under (§10.10).
            try db.execute(sql: """
                CREATE TABLE tally_proofs (tag BLOB PRIMARY KEY, campaign BLOB NOT NULL, tallied_at INTEGER NOT NULL, sealed BLOB NOT NULL);
                CREATE INDEX tally_proofs_campaign ON tally_proofs (campaign);
                CREATE TABLE tally_proofs_sent (tag BLOB PRIMARY KEY, root BLOB NOT NULL);
                """)
        }
        migrator.registerMigration("v10-relay-ca-files") { db in
            // The CA certificate (PEM file) a wss:// relay was added with, trusted for it from then on.
            try db.execute(sql: "ALTER TABLE relays ADD COLUMN ca_file TEXT")
        }
        migrator.registerMigration("v11-group-generations") { db in
            // A random token, new at every change of the row, in clear: a client keeps the decoded
            // group state while the row still has the token it read (0: not yet written since).
            try db.execute(sql: "ALTER TABLE groups ADD COLUMN generation INTEGER NOT NULL DEFAULT 0")
        }
        migrator.registerMigration("v12-group-state-in-parts") { db in
            // A group's state in parts (Protocol.md §8.5, version 2): `groups.state` holds the core,
            // these the membership entries (one row each) and the remembered hashes (pages of 64),
            // so that a group message rewrites a page, not the whole chain. Rows of a group whose
            // `state` is still version 1 are empty until its next change.
            try db.execute(sql: """
                CREATE TABLE group_entries (grp BLOB NOT NULL, seq INTEGER NOT NULL, sealed BLOB NOT NULL,
                                            PRIMARY KEY (grp, seq)) WITHOUT ROWID;
                CREATE TABLE group_seen (grp BLOB NOT NULL, page INTEGER NOT NULL, sealed BLOB NOT NULL,
                                         PRIMARY KEY (grp, page)) WITHOUT ROWID;
                """)
        }
        migrator.registerMigration("v13-no-random-indexes") { db in
            // Ids are random, so a unique index on them put each new row on a page of its own: the
            // outbox's cost every message sent 2 pages more, `processed`'s every message received.
            // The outbox is taken in row order and holds few entries (found by id only to check
            // that one is still queued); `processed` is looked up by id, so it becomes that index.
            try db.execute(sql: """
                CREATE TABLE outbox_new (id BLOB NOT NULL, sealed BLOB NOT NULL, created_at INTEGER NOT NULL,
                                         expires_at INTEGER);
                INSERT INTO outbox_new (rowid, id, sealed, created_at, expires_at)
                    SELECT rowid, id, sealed, created_at, expires_at FROM outbox;
                DROP TABLE outbox;
                ALTER TABLE outbox_new RENAME TO outbox;
                CREATE TABLE processed_new (id BLOB PRIMARY KEY, at INTEGER NOT NULL) WITHOUT ROWID;
                INSERT INTO processed_new (id, at) SELECT id, at FROM processed;
                DROP TABLE processed;
                ALTER TABLE processed_new RENAME TO processed;
                """)
        }
        migrator.registerMigration("v14-group-chains-apart") { db in
            // A group's state, version 3 (Protocol.md §8.5): the core in a row of its own, written
            // when it changes; each sender chain in a row of its own; the tip (latest hashes, the
            // ring's counts) in the group's row. A message rewrites one chain, the tip, one page
            // of remembered hashes, not every writer's chain. `groups.state` is empty for such a
            // group, and still holds the core or whole state of an older client's version 1 or 2.
            // Tables with row ids: a row there may be as large as a page holds.
            try db.execute(sql: """
                ALTER TABLE groups ADD COLUMN tip BLOB;
                CREATE TABLE group_cores (grp BLOB NOT NULL UNIQUE, sealed BLOB NOT NULL);
                CREATE TABLE group_chains (grp BLOB NOT NULL, epoch INTEGER NOT NULL, member BLOB NOT NULL,
                                           sealed BLOB NOT NULL, UNIQUE (grp, epoch, member));
                """)
        }
        migrator.registerMigration("v15-device-chains") { db in
            // The device chains (Protocol.md §2.2) of this identity and of the people it talks to,
            // as last verified, sealed; when each was last fetched from the relay (§9.12).
            try db.execute(sql: """
                CREATE TABLE device_chains (tag BLOB PRIMARY KEY, sealed BLOB NOT NULL, fetched_at INTEGER NOT NULL);
                """)
        }
        migrator.registerMigration("v16-relay-proxies") { db in
            // The SOCKS5 proxy a relay is reached through (`caucus relay add URL --proxy …`).
            try db.execute(sql: "ALTER TABLE relays ADD COLUMN proxy TEXT")
        }
        migrator.registerMigration("v17-card-posts-wait") { db in
            // A card or revocation waiting to be posted: the inbox key and the sealed item, sealed
            // with the store key; NULL once the relay took it (§9.9).
            try db.execute(sql: "ALTER TABLE my_cards ADD COLUMN outgoing BLOB")
        }
        return migrator
    }
}
