"""The SQLite schema, as an ordered list of migrations.

`schema_version` holds the number of migrations applied; `migrate` applies the missing ones,
each in its own transaction, so opening an existing database is idempotent and a future change
is one more entry appended to `MIGRATIONS` (never edit an applied one).
"""

from __future__ import annotations

import sqlite3

# Version 1: the initial schema.
_V1 = """
-- records stored whole by id ------------------------------------------------------------
CREATE TABLE IF NOT EXISTS users (
    id TEXT PRIMARY KEY,
    created_at REAL NOT NULL,
    email_lc TEXT NOT NULL,            -- email, stripped and casefolded (unique when not empty)
    body TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS users_email ON users (email_lc) WHERE email_lc <> '';
CREATE INDEX IF NOT EXISTS users_created ON users (created_at, id);

CREATE TABLE IF NOT EXISTS teams (
    id TEXT PRIMARY KEY, created_at REAL NOT NULL, body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS accounts (
    id TEXT PRIMARY KEY, created_at REAL NOT NULL, body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS tags (
    id TEXT PRIMARY KEY, created_at REAL NOT NULL, body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS templates (
    id TEXT PRIMARY KEY, created_at REAL NOT NULL, body TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS contacts (
    id TEXT PRIMARY KEY,
    created_at REAL NOT NULL,
    search TEXT NOT NULL,              -- casefolded name / email / phone, newline separated
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS contacts_created ON contacts (created_at, id);
CREATE TABLE IF NOT EXISTS contact_handles (
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    contact_id TEXT NOT NULL,
    PRIMARY KEY (key, value, contact_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS contact_handles_contact ON contact_handles (contact_id);

CREATE TABLE IF NOT EXISTS customers (
    id TEXT PRIMARY KEY,
    created_at REAL NOT NULL,
    search TEXT NOT NULL,              -- casefolded name and branch names, newline separated
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS customers_created ON customers (created_at, id);

-- conversations ---------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS conversations (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    contact_id TEXT NOT NULL,
    status TEXT NOT NULL,
    assignee_user_id TEXT,
    assignee_team_id TEXT,
    last_activity_at REAL NOT NULL,
    snooze_until REAL,
    version INTEGER NOT NULL,
    channel TEXT NOT NULL,
    customer_id TEXT,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS conversations_inbox
    ON conversations (account_id, last_activity_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS conversations_assignee
    ON conversations (assignee_user_id, last_activity_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS conversations_contact
    ON conversations (contact_id, account_id, last_activity_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS conversations_customer
    ON conversations (customer_id, last_activity_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS conversations_snooze
    ON conversations (snooze_until) WHERE status = 'snoozed';

CREATE TABLE IF NOT EXISTS conversation_tags (
    tag_id TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    PRIMARY KEY (tag_id, conversation_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS conversation_tags_conversation
    ON conversation_tags (conversation_id);

-- messages --------------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS messages (
    rid INTEGER PRIMARY KEY,           -- stable rowid: the FTS index refers to it
    id TEXT NOT NULL UNIQUE,
    conversation_id TEXT NOT NULL,
    account_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    provider_message_id TEXT,
    client_key TEXT,
    created_at REAL NOT NULL,
    text TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_history ON messages (conversation_id, seq);
CREATE UNIQUE INDEX IF NOT EXISTS messages_provider
    ON messages (account_id, provider_message_id) WHERE provider_message_id IS NOT NULL;
CREATE UNIQUE INDEX IF NOT EXISTS messages_client_key
    ON messages (client_key) WHERE client_key IS NOT NULL;

CREATE VIRTUAL TABLE IF NOT EXISTS messages_fts USING fts5 (
    text, content = 'messages', content_rowid = 'rid', tokenize = 'unicode61 remove_diacritics 2'
);
CREATE TRIGGER IF NOT EXISTS messages_fts_insert AFTER INSERT ON messages BEGIN
    INSERT INTO messages_fts (rowid, text) VALUES (new.rid, new.text);
END;
CREATE TRIGGER IF NOT EXISTS messages_fts_delete AFTER DELETE ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, text) VALUES ('delete', old.rid, old.text);
END;
CREATE TRIGGER IF NOT EXISTS messages_fts_update AFTER UPDATE OF text ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, text) VALUES ('delete', old.rid, old.text);
    INSERT INTO messages_fts (rowid, text) VALUES (new.rid, new.text);
END;

-- event log -------------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS events (
    cursor INTEGER PRIMARY KEY AUTOINCREMENT,   -- never reused, even after a trim
    conversation_id TEXT NOT NULL,
    account_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    type TEXT NOT NULL,
    body TEXT NOT NULL,
    UNIQUE (conversation_id, seq, type)
);

-- outbox and sessions ---------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS outbox (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    next_attempt_at REAL NOT NULL,
    created_at REAL NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (account_id, next_attempt_at, created_at, id);

CREATE TABLE IF NOT EXISTS sessions (
    token_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    expires_at REAL NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_user ON sessions (user_id);
"""

# Version 2: the dashboard's metrics read messages by account and time.
_V2 = """
CREATE INDEX IF NOT EXISTS messages_metrics
    ON messages (account_id, created_at, conversation_id, seq);
"""

MIGRATIONS: list[str] = [_V1, _V2]


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the schema up to date; return the resulting version. `conn` is in autocommit
    mode (isolation_level=None)."""
    conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    row = conn.execute("SELECT max(version) FROM schema_version").fetchone()
    current = int(row[0]) if row and row[0] is not None else 0
    for number, script in enumerate(MIGRATIONS, start=1):
        if number <= current:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _statements(script):
                conn.execute(statement)
            conn.execute("INSERT INTO schema_version (version) VALUES (?)", (number,))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        current = number
    return current


def _statements(script: str) -> list[str]:
    """Split a script into complete statements (triggers contain inner semicolons)."""
    out: list[str] = []
    buffer = ""
    for line in script.splitlines(keepends=True):
        if line.lstrip().startswith("--") and not buffer.strip():
            continue
        buffer += line
        if sqlite3.complete_statement(buffer):
            if buffer.strip():
                out.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        out.append(buffer.strip())
    return out
