/*
 * Numbered schema migrations for the SQLite store. Each entry moves the
 * database from version i to i+1 inside one transaction; PRAGMA user_version
 * records where a database stands. Append, never edit, a released step.
 */
#include "store/store_sqlite.h"

static const char *const migrations[] = {
    /* 1: the initial schema */
    "CREATE TABLE settings(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE cas("
    " name TEXT PRIMARY KEY, kind TEXT NOT NULL, parent TEXT NOT NULL DEFAULT '',"
    " subject TEXT NOT NULL, fingerprint TEXT NOT NULL,"
    " not_before INTEGER NOT NULL, not_after INTEGER NOT NULL,"
    " cert BLOB NOT NULL, ocsp_cert BLOB,"
    " revoked INTEGER NOT NULL DEFAULT 0, revoked_at INTEGER NOT NULL DEFAULT 0,"
    " reason INTEGER NOT NULL DEFAULT 0, crl_number INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE classes("
    " name TEXT PRIMARY KEY, ca TEXT NOT NULL REFERENCES cas(name),"
    " lifetime_s INTEGER NOT NULL, key_types INTEGER NOT NULL, eku INTEGER NOT NULL,"
    " renew_at REAL NOT NULL, min_firmware TEXT NOT NULL DEFAULT '',"
    " revoke_superseded INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL);"
    "CREATE TABLE devices("
    " id TEXT PRIMARY KEY, class TEXT NOT NULL REFERENCES classes(name),"
    " serial TEXT NOT NULL DEFAULT '', manufacturer TEXT NOT NULL DEFAULT '',"
    " model TEXT NOT NULL DEFAULT '', firmware TEXT NOT NULL DEFAULT '',"
    " owner TEXT NOT NULL DEFAULT '', location TEXT NOT NULL DEFAULT '',"
    " criticality INTEGER NOT NULL, state INTEGER NOT NULL,"
    " token_hash BLOB, token_expires INTEGER NOT NULL DEFAULT 0,"
    " created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);"
    "CREATE INDEX devices_class ON devices(class, state);"
    "CREATE INDEX devices_state ON devices(state);"
    "CREATE INDEX devices_owner ON devices(owner);"
    "CREATE INDEX devices_manufacturer ON devices(manufacturer, serial);"
    "CREATE TABLE certs("
    " serial TEXT PRIMARY KEY, device_id TEXT NOT NULL REFERENCES devices(id),"
    " ca TEXT NOT NULL REFERENCES cas(name), class TEXT NOT NULL,"
    " key_type INTEGER NOT NULL, spki_hash BLOB NOT NULL,"
    " not_before INTEGER NOT NULL, not_after INTEGER NOT NULL,"
    " status INTEGER NOT NULL, reason INTEGER NOT NULL DEFAULT 0,"
    " revoked_at INTEGER NOT NULL DEFAULT 0, issued_at INTEGER NOT NULL,"
    " der BLOB NOT NULL);"
    "CREATE INDEX certs_device ON certs(device_id, status);"
    "CREATE INDEX certs_spki ON certs(spki_hash);"
    "CREATE INDEX certs_class ON certs(class, status);"
    "CREATE INDEX certs_ca ON certs(ca, status);"
    "CREATE INDEX certs_revoked ON certs(ca, serial) WHERE status != 0;"
    "CREATE INDEX certs_expiry ON certs(not_after) WHERE status = 0;"
    "CREATE TABLE audit("
    " seq INTEGER PRIMARY KEY, time INTEGER NOT NULL, actor TEXT NOT NULL,"
    " action TEXT NOT NULL, object TEXT NOT NULL, reason TEXT NOT NULL,"
    " details TEXT NOT NULL, prev_hash BLOB NOT NULL, hash BLOB NOT NULL);"
    "CREATE INDEX audit_object ON audit(object);",
    /* 2: manufacturer trust anchors (IEEE 802.1AR IDevID roots) */
    "CREATE TABLE manufacturer_anchors("
    " manufacturer TEXT NOT NULL, fingerprint TEXT NOT NULL, anchor BLOB NOT NULL,"
    " subject TEXT NOT NULL, not_after INTEGER NOT NULL, created_at INTEGER NOT NULL,"
    " PRIMARY KEY(manufacturer, fingerprint));",
    /* 3: the CRL reads every revoked entry of a CA; cover it so no row lookups */
    "DROP INDEX certs_revoked;"
    "CREATE INDEX certs_revoked ON certs(ca, serial, not_after, revoked_at, reason)"
    " WHERE status != 0;",
    /* 4: backend verification: policies (class -> service, route, methods), clone
     * settings per class and clone findings, last-seen times (written in batches) */
    "CREATE TABLE policies("
    " class TEXT NOT NULL REFERENCES classes(name), service TEXT NOT NULL,"
    " pattern TEXT NOT NULL, methods INTEGER NOT NULL, created_at INTEGER NOT NULL,"
    " PRIMARY KEY(class, service, pattern)) WITHOUT ROWID;"
    "CREATE TABLE clone_policies("
    " class TEXT PRIMARY KEY REFERENCES classes(name), window_s INTEGER NOT NULL,"
    " action INTEGER NOT NULL);"
    "CREATE TABLE clone_findings("
    " id INTEGER PRIMARY KEY, device_id TEXT NOT NULL REFERENCES devices(id),"
    " serial TEXT NOT NULL, first_addr TEXT NOT NULL, second_addr TEXT NOT NULL,"
    " first_seen INTEGER NOT NULL, second_seen INTEGER NOT NULL,"
    " window_s INTEGER NOT NULL, action INTEGER NOT NULL,"
    " cleared_at INTEGER NOT NULL DEFAULT 0, cleared_by TEXT NOT NULL DEFAULT '');"
    "CREATE INDEX clone_findings_open ON clone_findings(device_id) WHERE cleared_at = 0;"
    "CREATE TABLE device_seen("
    " device_id TEXT PRIMARY KEY REFERENCES devices(id), last_seen INTEGER NOT NULL,"
    " last_addr TEXT NOT NULL, last_service TEXT NOT NULL, last_allowed INTEGER NOT NULL,"
    " last_reason TEXT NOT NULL) WITHOUT ROWID;",
    /* 5: admin API credentials: operator client certificates of the Admin CA (id =
     * the certificate's serial) and bearer tokens (id = the token's public part, only
     * the SHA-256 of the whole token kept); role and scope live here, not in the
     * credential, so revoking or expiring one takes effect on the next request */
    "CREATE TABLE admin_credentials("
    " id TEXT PRIMARY KEY, kind INTEGER NOT NULL, name TEXT NOT NULL,"
    " role INTEGER NOT NULL, manufacturer TEXT NOT NULL DEFAULT '',"
    " token_hash BLOB, not_after INTEGER NOT NULL, created_at INTEGER NOT NULL,"
    " created_by TEXT NOT NULL, revoked_at INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;"
    "CREATE INDEX admin_credentials_name ON admin_credentials(name);",
    /* 6: signed audit checkpoints: the audit signer's certificates (issued by the root;
     * key_id = SHA-256 of the key's SubjectPublicKeyInfo, hex) and one signed checkpoint
     * per covered sequence number (the link hash at seq, the time, the signature) */
    "CREATE TABLE audit_keys("
    " key_id TEXT PRIMARY KEY, cert BLOB NOT NULL, created_at INTEGER NOT NULL);"
    "CREATE TABLE audit_checkpoints("
    " seq INTEGER PRIMARY KEY, time INTEGER NOT NULL, hash BLOB NOT NULL,"
    " key_id TEXT NOT NULL, signature BLOB NOT NULL);",
    /* 7: certificate listings page in issuance order (the API's cursor): with this the
     * next page is an index seek, not a sort of every certificate */
    "CREATE INDEX certs_issued ON certs(issued_at, serial);",
};

int sq_schema_latest(void)
{
	return (int)(sizeof(migrations) / sizeof(migrations[0]));
}

dt_code sq_migrate(sqlite3 *db, struct dt_error *err)
{
	sqlite3_stmt *st = NULL;
	int version = 0;
	dt_code rc = DT_OK;

	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		rc = dt_fail(err, DT_ERR_IO, "store: cannot read schema version: %s",
			     sqlite3_errmsg(db));
		goto out;
	}
	version = sqlite3_column_int(st, 0);
	/* An open statement would lock the schema against DROP in a migration. */
	sqlite3_finalize(st);
	st = NULL;
	if (version > sq_schema_latest()) {
		rc = dt_fail(err, DT_ERR_IO,
			     "store: database schema %d is newer than this devtrust (%d); upgrade "
			     "devtrust",
			     version, sq_schema_latest());
		goto out;
	}
	for (; version < sq_schema_latest(); version++) {
		char pragma[64];
		char *emsg = NULL;

		snprintf(pragma, sizeof(pragma), "PRAGMA user_version=%d;", version + 1);
		if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, &emsg) != SQLITE_OK ||
		    sqlite3_exec(db, migrations[version], NULL, NULL, &emsg) != SQLITE_OK ||
		    sqlite3_exec(db, pragma, NULL, NULL, &emsg) != SQLITE_OK ||
		    sqlite3_exec(db, "COMMIT", NULL, NULL, &emsg) != SQLITE_OK) {
			rc = dt_fail(err, DT_ERR_IO, "store: migration %d failed: %s", version + 1,
				     emsg ? emsg : "unknown error");
			sqlite3_free(emsg);
			sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
			goto out;
		}
	}
out:
	sqlite3_finalize(st);
	return rc;
}
