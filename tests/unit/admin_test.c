/*
 * Admin API credentials (admin.h): role names, bearer tokens (format, storage
 * as a hash only, and refusal of every altered, revoked or expired token),
 * vendor limits, operator certificates of the Admin CA, and the API's
 * authorization as api_handle answers it without HTTP.
 */
#include <jansson.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "testutil.h"

#include "api/api.h"
#include "devtrust/admin.h"
#include "store/store.h"

#define HOUR 3600LL
#define DAY 86400LL

/* ---- helpers ---- */

static struct dt_admin_cred add_token(struct tenv *t, const char *name, enum dt_role role,
				      const char *maker, int64_t lifetime,
				      char token[DT_ADMIN_TOKEN_BUF])
{
	struct dt_admin_opts o = {name, role, maker, lifetime};
	struct dt_admin_cred c;
	struct dt_error err;

	if (dt_admin_add_token(t->ctx, &o, token, &c, &err) != DT_OK)
		fail_msg("add token %s: %s", name, err.msg);
	return c;
}

/* dt_admin_auth_token must refuse token with DT_ERR_AUTH and a message. */
static void refused(struct tenv *t, const char *token, const char *why)
{
	struct dt_admin_cred out;
	struct dt_error err;

	memset(&err, 0, sizeof(err));
	if (dt_admin_auth_token(t->ctx, token, &out, &err) != DT_ERR_AUTH)
		fail_msg("%s: token accepted or not refused as DT_ERR_AUTH", why);
	assert_int_equal(err.code, DT_ERR_AUTH);
	assert_true(err.msg[0] != '\0');
}

static int is_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

/* Whether a file of the data dir holds needle anywhere (the database or its WAL). */
static int file_holds(struct tenv *t, const char *name, const char *needle)
{
	char path[400];
	FILE *f;
	char *buf;
	long n;
	int found = 0;

	snprintf(path, sizeof(path), "%s/%s", t->data, name);
	if (!(f = fopen(path, "rb")))
		return 0;
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	rewind(f);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	for (long i = 0; i + (long)strlen(needle) <= n && !found; i++)
		found = memcmp(buf + i, needle, strlen(needle)) == 0;
	free(buf);
	fclose(f);
	return found;
}

static dt_code insert_job(struct store_txn *txn, void *arg, struct dt_error *err)
{
	return txn->ops->admin_insert(txn, arg, err);
}

/* Stores a token credential directly, with any not_after: the public API refuses a
 * lifetime under a minute, so this is how a credential comes to be expired. */
static void insert_token(struct tenv *t, const char *id, enum dt_role role, const char *maker,
			 int64_t not_after, char token[DT_ADMIN_TOKEN_BUF])
{
	struct store_admin_cred a;
	struct dt_error err;

	memset(&a, 0, sizeof(a));
	snprintf(token, DT_ADMIN_TOKEN_BUF, "dta_%s_%s", id,
		 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
	snprintf(a.c.id, sizeof(a.c.id), "%s", id);
	a.c.kind = DT_CRED_TOKEN;
	snprintf(a.c.name, sizeof(a.c.name), "inserted-%s", id);
	a.c.role = role;
	snprintf(a.c.manufacturer, sizeof(a.c.manufacturer), "%s", maker);
	a.c.created_at = dt_now() - 2 * DAY;
	a.c.not_after = not_after;
	snprintf(a.c.created_by, sizeof(a.c.created_by), "unit-test");
	dt_sha256(token, strlen(token), a.token_hash);
	a.has_hash = 1;
	if (store_write(t->ctx->store, insert_job, &a, &err) != DT_OK)
		fail_msg("insert: %s", err.msg);
}

/* ---- role names ---- */

static void test_role_names(void **state)
{
	static const char *const names[] = {"admin", "operator", "auditor", "vendor"};

	(void)state;
	assert_int_equal(DT_ROLE_COUNT, 4);
	for (int r = 0; r < DT_ROLE_COUNT; r++) {
		assert_string_equal(dt_role_name((enum dt_role)r), names[r]);
		assert_int_equal(dt_role_parse(names[r]), r);
	}
	assert_string_equal(dt_role_name(DT_ROLE_COUNT), "?");
	assert_string_equal(dt_role_name((enum dt_role) - 1), "?");
	assert_int_equal(dt_role_parse("Admin"), -1);
	assert_int_equal(dt_role_parse("admin "), -1);
	assert_int_equal(dt_role_parse("adm"), -1);
	assert_int_equal(dt_role_parse("root"), -1);
	assert_int_equal(dt_role_parse(""), -1);
	assert_int_equal(dt_role_parse(NULL), -1);
}

/* ---- tokens ---- */

static void test_token_format_and_auth(void **state)
{
	struct tenv *t = *state;
	char token[DT_ADMIN_TOKEN_BUF], other[DT_ADMIN_TOKEN_BUF];
	struct dt_admin_cred c, c2, out;
	struct dt_error err;

	c = add_token(t, "alice", DT_ROLE_OPERATOR, NULL, 0, token);
	/* "dta_" + 16 hex (the id) + "_" + 64 hex (the secret) */
	assert_int_equal(strlen(token), DT_ADMIN_TOKEN_BUF - 1);
	assert_int_equal(strlen(token), 4 + 16 + 1 + 64);
	assert_memory_equal(token, "dta_", 4);
	assert_true(is_hex(token + 4, 16));
	assert_int_equal(token[20], '_');
	assert_true(is_hex(token + 21, 64));
	assert_int_equal(c.kind, DT_CRED_TOKEN);
	assert_int_equal(strlen(c.id), 16);
	assert_memory_equal(c.id, token + 4, 16);
	assert_string_equal(c.name, "alice");
	assert_int_equal(c.role, DT_ROLE_OPERATOR);
	assert_string_equal(c.manufacturer, "");
	assert_int_equal(c.revoked_at, 0);
	assert_int_equal(c.not_after - c.created_at, DT_ADMIN_DEFAULT_LIFETIME_S);

	memset(&out, 0, sizeof(out));
	assert_int_equal(dt_admin_auth_token(t->ctx, token, &out, &err), DT_OK);
	assert_string_equal(out.id, c.id);
	assert_string_equal(out.name, "alice");
	assert_int_equal(out.role, DT_ROLE_OPERATOR);
	assert_int_equal(out.kind, DT_CRED_TOKEN);
	assert_int_equal(out.not_after, c.not_after);

	/* Each token is new: same name, another id and secret, both valid. */
	c2 = add_token(t, "alice", DT_ROLE_OPERATOR, NULL, 2 * HOUR, other);
	assert_string_not_equal(c2.id, c.id);
	assert_string_not_equal(other + 21, token + 21);
	assert_int_equal(c2.not_after - c2.created_at, 2 * HOUR);
	assert_int_equal(dt_admin_auth_token(t->ctx, other, &out, &err), DT_OK);
	assert_string_equal(out.id, c2.id);
	/* One token's secret with the other's id is neither. */
	memcpy(other + 21, token + 21, 64);
	refused(t, other, "a mix of two tokens");
}

static void test_token_stored_only_as_hash(void **state)
{
	struct tenv *t = *state;
	char token[DT_ADMIN_TOKEN_BUF];
	struct dt_admin_cred c = add_token(t, "bob", DT_ROLE_ADMIN, NULL, 0, token);

	assert_false(file_holds(t, "devtrust.db", token + 21));
	assert_false(file_holds(t, "devtrust.db-wal", token + 21));
	/* The id is public and stored; the check is not vacuous. */
	assert_true(file_holds(t, "devtrust.db", c.id) || file_holds(t, "devtrust.db-wal", c.id));
}

static void test_token_auth_refuses_altered(void **state)
{
	struct tenv *t = *state;
	char token[DT_ADMIN_TOKEN_BUF], bad[DT_ADMIN_TOKEN_BUF + 8];
	struct dt_admin_cred out;
	struct dt_error err;

	add_token(t, "carol", DT_ROLE_ADMIN, NULL, 0, token);

	/* One hex digit changed to another, in the secret (first, middle, last) and in the id. */
	for (size_t pos = 4; pos < strlen(token); pos++) {
		if (pos == 20)
			continue;
		snprintf(bad, sizeof(bad), "%s", token);
		bad[pos] = bad[pos] == '0' ? '1' : '0';
		refused(t, bad, "a changed digit");
	}
	/* Hex in upper case is another string. */
	snprintf(bad, sizeof(bad), "%s", token);
	for (char *p = bad + 21; *p; p++)
		if (*p >= 'a' && *p <= 'f') {
			*p = (char)(*p - 32);
			break;
		}
	if (strcmp(bad, token) != 0)
		refused(t, bad, "an upper-case digit");
	/* Truncated: by one, by half, to the prefix, to nothing. */
	snprintf(bad, sizeof(bad), "%.*s", (int)strlen(token) - 1, token);
	refused(t, bad, "one digit short");
	snprintf(bad, sizeof(bad), "%.42s", token);
	refused(t, bad, "half a token");
	refused(t, "dta_", "the prefix only");
	refused(t, "", "an empty token");
	refused(t, NULL, "no token");
	/* Longer: a digit appended, a newline, the token twice. */
	snprintf(bad, sizeof(bad), "%s0", token);
	refused(t, bad, "a digit appended");
	snprintf(bad, sizeof(bad), "%s\n", token);
	refused(t, bad, "a newline appended");
	/* Wrong prefix or separator. */
	snprintf(bad, sizeof(bad), "%s", token);
	bad[2] = 'b';
	refused(t, bad, "prefix dtb_");
	snprintf(bad, sizeof(bad), "%s", token);
	bad[0] = 'D';
	refused(t, bad, "prefix Dta_");
	snprintf(bad, sizeof(bad), "%s", token);
	bad[20] = '-';
	refused(t, bad, "separator -");
	snprintf(bad, sizeof(bad), "xta_%s", token + 4);
	refused(t, bad, "prefix xta_");
	/* A well-formed token nobody was given. */
	refused(
	    t,
	    "dta_0000000000000000_0000000000000000000000000000000000000000000000000000000000000000",
	    "an unknown id");

	/* And the real one still passes: the refusals were for the alterations. */
	assert_int_equal(dt_admin_auth_token(t->ctx, token, &out, &err), DT_OK);
}

static void test_token_revoked(void **state)
{
	struct tenv *t = *state;
	char t1[DT_ADMIN_TOKEN_BUF], t2[DT_ADMIN_TOKEN_BUF], t3[DT_ADMIN_TOKEN_BUF];
	struct dt_admin_cred c1, out;
	struct dt_error err;
	int64_t n = -1;

	c1 = add_token(t, "dave", DT_ROLE_ADMIN, NULL, 0, t1);
	add_token(t, "erin", DT_ROLE_OPERATOR, NULL, 0, t2);
	add_token(t, "erin", DT_ROLE_AUDITOR, NULL, 0, t3);

	/* By id: that credential only. */
	assert_int_equal(dt_admin_revoke(t->ctx, c1.id, &n, &err), DT_OK);
	assert_int_equal(n, 1);
	refused(t, t1, "a revoked token");
	assert_int_equal(dt_admin_auth_token(t->ctx, t1, &out, &err), DT_ERR_AUTH);
	assert_non_null(strstr(err.msg, "revoked"));
	assert_int_equal(dt_admin_auth_token(t->ctx, t2, &out, &err), DT_OK);

	/* By name: every credential of it. */
	assert_int_equal(dt_admin_revoke(t->ctx, "erin", &n, &err), DT_OK);
	assert_int_equal(n, 2);
	refused(t, t2, "a token revoked by name");
	refused(t, t3, "a token revoked by name");

	/* Nothing left to revoke, and a bad name is refused before the store. */
	assert_int_equal(dt_admin_revoke(t->ctx, "erin", &n, &err), DT_ERR_NOT_FOUND);
	assert_int_equal(n, 0);
	assert_int_equal(dt_admin_revoke(t->ctx, "no one", &n, &err), DT_ERR_INVALID);
}

static void test_token_expired(void **state)
{
	struct tenv *t = *state;
	char live[DT_ADMIN_TOKEN_BUF], old[DT_ADMIN_TOKEN_BUF], vendor[DT_ADMIN_TOKEN_BUF];
	char now_tok[DT_ADMIN_TOKEN_BUF];
	struct dt_admin_cred out;
	struct dt_error err;

	/* The same insertion with a future end authenticates: the path itself is sound. */
	insert_token(t, "1111111111111111", DT_ROLE_ADMIN, "", dt_now() + HOUR, live);
	assert_int_equal(dt_admin_auth_token(t->ctx, live, &out, &err), DT_OK);
	assert_string_equal(out.id, "1111111111111111");

	insert_token(t, "2222222222222222", DT_ROLE_ADMIN, "", dt_now() - 1, old);
	refused(t, old, "an expired token");
	assert_int_equal(dt_admin_auth_token(t->ctx, old, &out, &err), DT_ERR_AUTH);
	assert_non_null(strstr(err.msg, "expired"));

	/* not_after is the first second it no longer holds. */
	insert_token(t, "3333333333333333", DT_ROLE_OPERATOR, "", dt_now(), now_tok);
	refused(t, now_tok, "a token at its not_after");

	/* A vendor's maintenance window that has ended says so. */
	insert_token(t, "4444444444444444", DT_ROLE_VENDOR, "acme", dt_now() - DAY, vendor);
	assert_int_equal(dt_admin_auth_token(t->ctx, vendor, &out, &err), DT_ERR_AUTH);
	assert_non_null(strstr(err.msg, "maintenance window"));
}

/* ---- vendor and lifetime limits ---- */

static void expect_invalid(struct tenv *t, const char *name, enum dt_role role, const char *maker,
			   int64_t lifetime, const char *what)
{
	struct dt_admin_opts o = {name, role, maker, lifetime};
	struct dt_admin_cred c;
	struct dt_error err;
	char token[DT_ADMIN_TOKEN_BUF];

	if (dt_admin_add_token(t->ctx, &o, token, &c, &err) != DT_ERR_INVALID)
		fail_msg("%s: not refused as DT_ERR_INVALID", what);
	assert_string_equal(token, "");
	assert_true(err.msg[0] != '\0');
}

static int count_cred(void *arg, const struct dt_admin_cred *c)
{
	(void)c;
	++*(int *)arg;
	return 0;
}

static void test_vendor_and_lifetime_limits(void **state)
{
	struct tenv *t = *state;
	char token[DT_ADMIN_TOKEN_BUF];
	struct dt_admin_cred c, out;
	struct dt_error err;
	int n = 0;

	expect_invalid(t, "v", DT_ROLE_VENDOR, NULL, DAY, "a vendor without a manufacturer");
	expect_invalid(t, "v", DT_ROLE_VENDOR, "", DAY, "a vendor with an empty manufacturer");
	expect_invalid(t, "v", DT_ROLE_VENDOR, "acme", DT_ADMIN_VENDOR_MAX_LIFETIME_S + 1,
		       "a vendor for more than 7 days");
	expect_invalid(t, "v", DT_ROLE_VENDOR, "acme", DT_ADMIN_MAX_LIFETIME_S,
		       "a vendor for a year");
	expect_invalid(t, "v", DT_ROLE_VENDOR, "ac\x01me", DAY, "a manufacturer with a control");
	expect_invalid(t, "a", DT_ROLE_ADMIN, "acme", DAY, "an admin scoped to a manufacturer");
	expect_invalid(t, "o", DT_ROLE_OPERATOR, "acme", DAY, "an operator with a manufacturer");
	expect_invalid(t, "u", DT_ROLE_AUDITOR, "acme", DAY, "an auditor with a manufacturer");
	expect_invalid(t, "a", DT_ROLE_ADMIN, NULL, 59, "a lifetime under a minute");
	expect_invalid(t, "a", DT_ROLE_ADMIN, NULL, -HOUR, "a negative lifetime");
	expect_invalid(t, "a", DT_ROLE_ADMIN, NULL, DT_ADMIN_MAX_LIFETIME_S + 1,
		       "a lifetime over 366 days");
	expect_invalid(t, "a", DT_ROLE_COUNT, NULL, DAY, "an unknown role");
	expect_invalid(t, "a b", DT_ROLE_ADMIN, NULL, DAY, "a name with a space");
	expect_invalid(t, "", DT_ROLE_ADMIN, NULL, DAY, "an empty name");
	expect_invalid(t, NULL, DT_ROLE_ADMIN, NULL, DAY, "no name");
	/* None of them was stored. */
	assert_int_equal(dt_admin_list(t->ctx, NULL, count_cred, &n, &err), DT_OK);
	assert_int_equal(n, 0);

	/* The limits themselves are allowed. */
	c = add_token(t, "acme-tech", DT_ROLE_VENDOR, "acme", DT_ADMIN_VENDOR_MAX_LIFETIME_S,
		      token);
	assert_string_equal(c.manufacturer, "acme");
	assert_int_equal(c.not_after - c.created_at, DT_ADMIN_VENDOR_MAX_LIFETIME_S);
	assert_int_equal(dt_admin_auth_token(t->ctx, token, &out, &err), DT_OK);
	assert_int_equal(out.role, DT_ROLE_VENDOR);
	assert_string_equal(out.manufacturer, "acme");
	c = add_token(t, "a", DT_ROLE_ADMIN, NULL, 60, token);
	assert_int_equal(c.not_after - c.created_at, 60);
	c = add_token(t, "a", DT_ROLE_ADMIN, "", DT_ADMIN_MAX_LIFETIME_S, token);
	assert_int_equal(c.not_after - c.created_at, DT_ADMIN_MAX_LIFETIME_S);
	assert_string_equal(c.manufacturer, "");
}

/* ---- certificates ---- */

struct issued {
	struct dt_admin_cred c;
	X509 *leaf;
	X509 *ca;
	EVP_PKEY *key;
};

static struct issued add_cert(struct tenv *t, const char *name, enum dt_role role)
{
	struct dt_admin_opts o = {name, role, NULL, DAY};
	struct issued is;
	struct dt_error err;
	char *key_pem = NULL, *cert_pem = NULL;
	BIO *b;

	memset(&is, 0, sizeof(is));
	if (dt_admin_add_cert(t->ctx, &o, &key_pem, &cert_pem, &is.c, &err) != DT_OK)
		fail_msg("add cert %s: %s", name, err.msg);
	/* The certificate, then the Admin CA's. */
	b = BIO_new_mem_buf(cert_pem, -1);
	assert_non_null(is.leaf = PEM_read_bio_X509(b, NULL, NULL, NULL));
	assert_non_null(is.ca = PEM_read_bio_X509(b, NULL, NULL, NULL));
	BIO_free(b);
	b = BIO_new_mem_buf(key_pem, -1);
	assert_non_null(is.key = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL));
	BIO_free(b);
	assert_int_equal(X509_check_private_key(is.leaf, is.key), 1);
	OPENSSL_cleanse(key_pem, strlen(key_pem));
	free(key_pem);
	free(cert_pem);
	return is;
}

static void issued_free(struct issued *is)
{
	X509_free(is->leaf);
	X509_free(is->ca);
	EVP_PKEY_free(is->key);
}

static dt_code auth_cert(struct tenv *t, X509 *peer, X509 *c1, X509 *c2, struct dt_admin_cred *out,
			 struct dt_error *err)
{
	STACK_OF(X509) *chain = sk_X509_new_null();
	dt_code rc;

	assert_non_null(chain);
	if (c1)
		sk_X509_push(chain, c1);
	if (c2)
		sk_X509_push(chain, c2);
	memset(err, 0, sizeof(*err));
	rc = dt_admin_auth_cert(t->ctx, peer, chain, out, err);
	sk_X509_free(chain); /* the certificates are the caller's */
	return rc;
}

static void test_cert_credential(void **state)
{
	struct tenv *t = *state;
	struct issued is;
	struct dt_admin_cred out;
	struct dt_error err;
	char serial[DT_SERIAL_HEX_BUF], *pem = NULL;
	X509 *ca = NULL;
	BIO *b;

	/* No Admin CA before the first operator. */
	assert_int_equal(dt_admin_ca_pem(t->ctx, &pem, &err), DT_ERR_NOT_FOUND);
	assert_null(pem);

	is = add_cert(t, "frank", DT_ROLE_AUDITOR);
	assert_int_equal(is.c.kind, DT_CRED_CERT);
	tu2_serial_hex(X509_get0_serialNumber(is.leaf), serial);
	assert_string_equal(is.c.id, serial);
	/* The chain's second certificate is the Admin CA, self-signed, and it issued the first. */
	assert_int_equal(dt_admin_ca_pem(t->ctx, &pem, &err), DT_OK);
	b = BIO_new_mem_buf(pem, -1);
	assert_non_null(ca = PEM_read_bio_X509(b, NULL, NULL, NULL));
	BIO_free(b);
	free(pem);
	assert_int_equal(X509_cmp(ca, is.ca), 0);
	assert_int_equal(X509_check_issued(is.ca, is.ca), X509_V_OK);
	assert_int_equal(X509_check_issued(is.ca, is.leaf), X509_V_OK);
	X509_free(ca);

	/* Accepted with the Admin CA in the chain, and without it (it is the anchor). */
	memset(&out, 0, sizeof(out));
	assert_int_equal(auth_cert(t, is.leaf, is.ca, NULL, &out, &err), DT_OK);
	assert_string_equal(out.id, serial);
	assert_string_equal(out.name, "frank");
	assert_int_equal(out.role, DT_ROLE_AUDITOR);
	assert_int_equal(out.kind, DT_CRED_CERT);
	assert_int_equal(auth_cert(t, is.leaf, NULL, NULL, &out, &err), DT_OK);

	/* No certificate at all. */
	assert_int_equal(auth_cert(t, NULL, NULL, NULL, &out, &err), DT_ERR_AUTH);
	/* The Admin CA itself is no operator. */
	assert_int_equal(auth_cert(t, is.ca, NULL, NULL, &out, &err), DT_ERR_AUTH);
	issued_free(&is);
}

static void test_cert_forgery_refused(void **state)
{
	struct tenv *t = *state;
	struct issued is = add_cert(t, "grace", DT_ROLE_ADMIN);
	EVP_PKEY *k = EVP_EC_gen("P-256");
	X509 *forged = X509_dup(is.leaf);
	struct dt_admin_cred out;
	struct dt_error err;

	/* The live operator's serial, subject and issuer name, signed by another key. */
	assert_non_null(k);
	assert_non_null(forged);
	assert_int_equal(X509_set_pubkey(forged, k), 1);
	assert_true(X509_sign(forged, k, EVP_sha256()) > 0);
	assert_int_equal(auth_cert(t, forged, is.ca, NULL, &out, &err), DT_ERR_AUTH);
	assert_int_equal(auth_cert(t, is.leaf, is.ca, NULL, &out, &err), DT_OK);
	X509_free(forged);
	EVP_PKEY_free(k);
	issued_free(&is);
}

static void test_cert_device_refused(void **state)
{
	struct tenv *t = *state;
	X509 *dev = NULL, *issuing = tu2_ca_cert(t, "default"), *root = tu2_ca_cert(t, "root");
	struct dt_admin_cred out;
	struct dt_error err;
	struct issued is;

	tu_device(t, "pump-1", NULL);
	tu2_issue(t, "pump-1", "P-256", &dev);
	/* Before any Admin CA exists, and after: a device certificate is never an operator,
	 * whatever chain comes with it. */
	assert_int_equal(auth_cert(t, dev, issuing, root, &out, &err), DT_ERR_AUTH);
	assert_true(err.msg[0] != '\0');
	is = add_cert(t, "heidi", DT_ROLE_ADMIN);
	assert_int_equal(auth_cert(t, dev, issuing, root, &out, &err), DT_ERR_AUTH);
	assert_non_null(strstr(err.msg, "Admin CA"));
	assert_int_equal(auth_cert(t, dev, is.ca, issuing, &out, &err), DT_ERR_AUTH);
	assert_int_equal(auth_cert(t, dev, NULL, NULL, &out, &err), DT_ERR_AUTH);
	/* The device hierarchy's own CAs are not operators either. */
	assert_int_equal(auth_cert(t, issuing, root, NULL, &out, &err), DT_ERR_AUTH);
	assert_int_equal(auth_cert(t, is.leaf, is.ca, NULL, &out, &err), DT_OK);
	X509_free(dev);
	X509_free(issuing);
	X509_free(root);
	issued_free(&is);
}

static void test_cert_revoked(void **state)
{
	struct tenv *t = *state;
	struct issued is = add_cert(t, "ivan", DT_ROLE_OPERATOR);
	struct issued keep = add_cert(t, "judy", DT_ROLE_OPERATOR);
	struct dt_admin_cred out;
	struct dt_error err;
	int64_t n = 0;

	assert_int_equal(auth_cert(t, is.leaf, is.ca, NULL, &out, &err), DT_OK);
	assert_int_equal(dt_admin_revoke(t->ctx, is.c.id, &n, &err), DT_OK);
	assert_int_equal(n, 1);
	assert_int_equal(auth_cert(t, is.leaf, is.ca, NULL, &out, &err), DT_ERR_AUTH);
	assert_non_null(strstr(err.msg, "revoked"));
	/* The other operator of the same Admin CA is untouched. */
	assert_int_equal(auth_cert(t, keep.leaf, keep.ca, NULL, &out, &err), DT_OK);
	assert_string_equal(out.name, "judy");
	issued_free(&is);
	issued_free(&keep);
}

/* ---- api_handle authorization, without HTTP ---- */

struct reply {
	int status;
	json_t *body;
	const char *code; /* error replies: body's error.code */
	const char *message;
};

static struct reply call(struct tenv *t, const struct dt_admin_cred *who, const char *method,
			 const char *path, const char *query, const char *body)
{
	struct api_request rq = {
	    method, path, query, (const unsigned char *)body, body ? strlen(body) : 0, who};
	struct api_response rs;
	struct reply r = {0, NULL, NULL, NULL};
	json_error_t je;
	json_t *e;

	api_handle(t->ctx, &rq, &rs);
	assert_non_null(rs.body);
	assert_string_equal(rs.content_type, "application/json");
	r.status = rs.status;
	r.body = json_loadb(rs.body, rs.len, JSON_REJECT_DUPLICATES, &je);
	if (!r.body || !json_is_object(r.body))
		fail_msg("%s %s: not a JSON object: %s", method, path, rs.body);
	if (r.status >= 400) {
		e = json_object_get(r.body, "error");
		assert_int_equal(json_object_size(r.body), 1);
		assert_int_equal(json_object_size(e), 2);
		assert_non_null(r.code = json_string_value(json_object_get(e, "code")));
		assert_non_null(r.message = json_string_value(json_object_get(e, "message")));
	}
	api_response_free(&rs);
	return r;
}

static void expect(struct tenv *t, const struct dt_admin_cred *who, const char *method,
		   const char *path, const char *body, int status, const char *code)
{
	struct reply r = call(t, who, method, path, NULL, body);

	if (r.status != status)
		fail_msg("%s %s: want %d, have %d (%s)", method, path, status, r.status,
			 r.message ? r.message : "");
	if (code)
		assert_string_equal(r.code, code);
	json_decref(r.body);
}

struct api_env {
	struct dt_admin_cred admin, op, auditor, vendor;
	char globex_serial[DT_SERIAL_HEX_BUF];
};

static void api_env(struct tenv *t, struct api_env *e)
{
	char tok[DT_ADMIN_TOKEN_BUF];

	memset(e, 0, sizeof(*e));
	tu2_class(t, "pump", "default", DT_KEY_EC_P256, 30 * DAY, 0);
	tu_device_of(t, "acme-1", "pump", "acme", "SN-A1", NULL);
	tu_device_of(t, "globex-1", "pump", "globex", "SN-G1", NULL);
	tu2_issue(t, "acme-1", "P-256", NULL);
	snprintf(e->globex_serial, sizeof(e->globex_serial), "%s",
		 tu2_issue(t, "globex-1", "P-256", NULL).serial);
	e->admin = add_token(t, "root-op", DT_ROLE_ADMIN, NULL, 0, tok);
	e->op = add_token(t, "ops", DT_ROLE_OPERATOR, NULL, 0, tok);
	e->auditor = add_token(t, "audit", DT_ROLE_AUDITOR, NULL, 0, tok);
	e->vendor = add_token(t, "acme-tech", DT_ROLE_VENDOR, "acme", DAY, tok);
}

static void test_api_vendor_scope(void **state)
{
	struct tenv *t = *state;
	struct api_env e;
	struct reply r, missing;
	char path[128];
	json_t *items, *v;
	size_t i;

	api_env(t, &e);
	/* Another maker's device does not exist for a vendor: the very reply of a missing one. */
	r = call(t, &e.vendor, "GET", "/devices/globex-1", NULL, NULL);
	assert_int_equal(r.status, 404);
	assert_string_equal(r.code, "not_found");
	assert_string_equal(r.message, "no device with id 'globex-1'");
	missing = call(t, &e.admin, "GET", "/devices/nothing-1", NULL, NULL);
	assert_int_equal(missing.status, 404);
	assert_string_equal(missing.message, "no device with id 'nothing-1'");
	json_decref(r.body);
	json_decref(missing.body);
	expect(t, &e.vendor, "GET", "/devices/globex-1/audit", NULL, 404, "not_found");
	expect(t, &e.vendor, "POST", "/devices/globex-1/token", NULL, 404, "not_found");
	expect(t, &e.vendor, "POST", "/devices/globex-1/suspend", NULL, 404, "not_found");
	snprintf(path, sizeof(path), "/certificates/%s", e.globex_serial);
	expect(t, &e.vendor, "GET", path, NULL, 404, "not_found");
	/* Its own maker's device is there, for the admin the other one too. */
	expect(t, &e.vendor, "GET", "/devices/acme-1", NULL, 200, NULL);
	expect(t, &e.admin, "GET", "/devices/globex-1", NULL, 200, NULL);
	expect(t, &e.admin, "GET", path, NULL, 200, NULL);
	/* The list holds acme's devices only, even when asked for globex's. */
	r = call(t, &e.vendor, "GET", "/devices", NULL, NULL);
	assert_int_equal(r.status, 200);
	items = json_object_get(r.body, "items");
	assert_int_equal(json_array_size(items), 1);
	json_array_foreach(items, i, v)
	{
		assert_string_equal(json_string_value(json_object_get(v, "manufacturer")), "acme");
	}
	json_decref(r.body);
	r = call(t, &e.vendor, "GET", "/devices", "manufacturer=globex", NULL);
	assert_int_equal(r.status, 200);
	assert_int_equal(json_array_size(json_object_get(r.body, "items")), 0);
	json_decref(r.body);
	/* CA, class, policy, report, audit and credential routes are not a vendor's. */
	expect(t, &e.vendor, "GET", "/cas", NULL, 403, "forbidden");
	expect(t, &e.vendor, "GET", "/cas/default", NULL, 403, "forbidden");
	expect(t, &e.vendor, "GET", "/classes", NULL, 403, "forbidden");
	expect(t, &e.vendor, "GET", "/overview", NULL, 403, "forbidden");
	expect(t, &e.vendor, "GET", "/audit", NULL, 403, "forbidden");
	expect(t, &e.vendor, "GET", "/admins", NULL, 403, "forbidden");
	expect(t, &e.vendor, "POST", "/devices", "{\"id\":\"acme-2\",\"class\":\"pump\"}", 403,
	       "forbidden");
	expect(t, &e.vendor, "POST", "/devices/acme-1/retire", NULL, 403, "forbidden");
	/* A vendor lists certificates one device at a time. */
	expect(t, &e.vendor, "GET", "/certificates", NULL, 403, "forbidden");
}

static int device_exists(struct tenv *t, const char *id)
{
	struct dt_device d;
	struct dt_error err;

	return dt_device_get(t->ctx, id, &d, &err) == DT_OK;
}

static void test_api_roles_and_routing(void **state)
{
	struct tenv *t = *state;
	struct api_env e;
	const char *dev = "{\"id\":\"new-1\",\"class\":\"pump\"}";
	struct reply r;

	api_env(t, &e);
	/* An auditor reads but changes nothing. */
	expect(t, &e.auditor, "POST", "/devices", dev, 403, "forbidden");
	assert_false(device_exists(t, "new-1"));
	expect(t, &e.auditor, "POST", "/devices/acme-1/suspend", NULL, 403, "forbidden");
	expect(t, &e.auditor, "GET", "/devices", NULL, 200, NULL);
	expect(t, &e.auditor, "GET", "/audit/verify", NULL, 200, NULL);
	/* An operator runs the inventory, not the CAs or the credentials. */
	expect(t, &e.op, "POST", "/cas", "{\"name\":\"opca\"}", 403, "forbidden");
	expect(t, &e.op, "POST", "/admins", "{\"name\":\"x\",\"role\":\"admin\"}", 403,
	       "forbidden");
	expect(t, &e.op, "GET", "/audit/verify", NULL, 403, "forbidden");
	expect(t, &e.op, "POST", "/devices", dev, 201, NULL);
	assert_true(device_exists(t, "new-1"));

	/* Not signed in: 401 whatever the path, even one that does not exist. */
	expect(t, NULL, "GET", "/me", NULL, 401, "unauthenticated");
	expect(t, NULL, "POST", "/devices", "{\"id\":\"new-2\",\"class\":\"pump\"}", 401,
	       "unauthenticated");
	expect(t, NULL, "GET", "/nope", NULL, 401, "unauthenticated");
	assert_false(device_exists(t, "new-2"));

	/* Unknown paths are 404, a known path with another method 405. */
	expect(t, &e.admin, "GET", "/nope", NULL, 404, "not_found");
	expect(t, &e.admin, "GET", "/", NULL, 404, "not_found");
	expect(t, &e.admin, "GET", "/devices/acme-1/", NULL, 404, "not_found");
	expect(t, &e.admin, "GET", "/devices//acme-1", NULL, 404, "not_found");
	expect(t, &e.admin, "GET", "/api/v1/devices", NULL, 404, "not_found");
	expect(t, &e.admin, "PUT", "/devices", NULL, 405, "method_not_allowed");
	expect(t, &e.admin, "DELETE", "/devices/acme-1", NULL, 405, "method_not_allowed");
	expect(t, &e.admin, "GET", "/devices/acme-1/suspend", NULL, 405, "method_not_allowed");
	expect(t, &e.admin, "get", "/devices", NULL, 405, "method_not_allowed");
	/* The 405 comes before the role check: it says nothing about what the role may do. */
	expect(t, &e.vendor, "PUT", "/cas", NULL, 405, "method_not_allowed");

	/* Who am I: the credential, never its secret. */
	r = call(t, &e.vendor, "GET", "/me", NULL, NULL);
	assert_int_equal(r.status, 200);
	assert_string_equal(json_string_value(json_object_get(r.body, "role")), "vendor");
	assert_string_equal(json_string_value(json_object_get(r.body, "manufacturer")), "acme");
	assert_null(json_object_get(r.body, "token"));
	json_decref(r.body);
}

static void test_api_error_not_utf8(void **state)
{
	struct tenv *t = *state;
	struct api_env e;
	struct reply r;

	/* The path decodes to any bytes and the message quotes it: still JSON, and a 4xx. */
	api_env(t, &e);
	r = call(t, &e.admin, "DELETE", "/admins/\xc3\x28", NULL, NULL);
	assert_int_equal(r.status, 400);
	assert_string_equal(r.code, "invalid");
	assert_null(strstr(r.message, "\xc3"));
	json_decref(r.body);
	r = call(t, &e.admin, "GET", "/devices/ab\xff\xfe", NULL, NULL);
	assert_int_equal(r.status, 404);
	assert_string_equal(r.message, "no device with id 'ab?\?'");
	json_decref(r.body);
	r = call(t, &e.admin, "GET", "/devices/caf\xc3\xa9", NULL, NULL);
	assert_int_equal(r.status, 404);
	assert_string_equal(r.message, "no device with id 'caf\xc3\xa9'");
	json_decref(r.body);
	r = call(t, &e.admin, "GET", "/reports/expiring", "within=%ff", NULL);
	assert_int_equal(r.status, 400);
	json_decref(r.body);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_role_names),
	    cmocka_unit_test_setup_teardown(test_token_format_and_auth, tu_setup, tu_teardown),
	    cmocka_unit_test_setup_teardown(test_token_stored_only_as_hash, tu_setup, tu_teardown),
	    cmocka_unit_test_setup_teardown(test_token_auth_refuses_altered, tu_setup, tu_teardown),
	    cmocka_unit_test_setup_teardown(test_token_revoked, tu_setup, tu_teardown),
	    cmocka_unit_test_setup_teardown(test_token_expired, tu_setup, tu_teardown),
	    cmocka_unit_test_setup_teardown(test_vendor_and_lifetime_limits, tu_setup, tu_teardown),
	    cmocka_unit_test_setup_teardown(test_cert_credential, tu_setup, tu_teardown),
	    cmocka_unit_test_setup_teardown(test_cert_forgery_refused, tu_setup, tu_teardown),
	    cmocka_unit_test_setup_teardown(test_cert_device_refused, tu_setup, tu_teardown),
	    cmocka_unit_test_setup_teardown(test_cert_revoked, tu_setup, tu_teardown),
	    cmocka_unit_test_setup_teardown(test_api_vendor_scope, tu_setup, tu_teardown),
	    cmocka_unit_test_setup_teardown(test_api_roles_and_routing, tu_setup, tu_teardown),
	    cmocka_unit_test_setup_teardown(test_api_error_not_utf8, tu_setup, tu_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
