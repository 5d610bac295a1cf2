/*
 * The words users type: durations, key types, EKUs, states, criticalities,
 * revocation reasons and serials; the identifier and text checks; and the
 * private-file writer that holds CA keys.
 */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "core/core.h"

/* ---- durations ---- */

static int64_t duration_ok(const char *s)
{
	struct dt_error err;
	int64_t v = -1;

	if (dt_duration_parse(s, &v, &err) != DT_OK)
		fail_msg("duration '%s': %s", s, err.msg);
	return v;
}

static void duration_bad(const char *s, const char *msg_part)
{
	struct dt_error err;
	int64_t v = 12345;

	memset(&err, 0, sizeof(err));
	assert_int_equal(dt_duration_parse(s, &v, &err), DT_ERR_INVALID);
	assert_int_equal(v, 0);
	if (!strstr(err.msg, msg_part))
		fail_msg("duration '%s': message '%s' lacks '%s'", s, err.msg, msg_part);
}

static void test_duration_units(void **state)
{
	(void)state;
	assert_int_equal(duration_ok("30d"), 30 * 86400);
	assert_int_equal(duration_ok("12h"), 12 * 3600);
	assert_int_equal(duration_ok("90m"), 90 * 60);
	assert_int_equal(duration_ok("3600"), 3600);
	assert_int_equal(duration_ok("3600s"), 3600);
	assert_int_equal(duration_ok("1y"), 365 * 86400);
	/* The longest accepted lifetime is the root's: 20 years. */
	assert_int_equal(duration_ok("20y"), 20LL * 365 * 86400);
}

static void test_duration_errors(void **state)
{
	(void)state;
	duration_bad("", "is not like");
	duration_bad(NULL, "is not like");
	duration_bad("-1d", "is not like");
	duration_bad("+1d", "is not like");
	duration_bad("d", "is not like");
	duration_bad("10x", "unknown unit");
	duration_bad("5dd", "trailing");
	duration_bad("5d ", "trailing");
	duration_bad("999999999999999y", "too long");
	duration_bad("99999999999999999999", "is not like"); /* beyond int64 */
	duration_bad("21y", "too long");
}

/* ---- key types and EKUs ---- */

static void test_key_types_parse(void **state)
{
	struct dt_error err;
	unsigned mask = 0;

	(void)state;
	assert_int_equal(dt_key_types_parse("ec-p256", &mask, &err), DT_OK);
	assert_int_equal(mask, DT_KEY_EC_P256);
	assert_int_equal(
	    dt_key_types_parse("ec-p256,ec-p384,rsa-2048,rsa-3072,rsa-4096,ed25519", &mask, &err),
	    DT_OK);
	assert_int_equal(mask, DT_KEY_ALL);
	assert_int_equal(dt_key_types_parse("ed25519,rsa-3072", &mask, &err), DT_OK);
	assert_int_equal(mask, DT_KEY_ED25519 | DT_KEY_RSA_3072);

	assert_int_equal(dt_key_types_parse("ec-p256,dsa-1024", &mask, &err), DT_ERR_INVALID);
	assert_non_null(strstr(err.msg, "'dsa-1024'"));
	assert_non_null(strstr(err.msg, "ec-p256, ec-p384")); /* says what is allowed */
	/* A prefix of a known word is not that word. */
	assert_int_equal(dt_key_types_parse("ec-p25", &mask, &err), DT_ERR_INVALID);
	assert_non_null(strstr(err.msg, "'ec-p25'"));
	assert_int_equal(dt_key_types_parse("ec-p256x", &mask, &err), DT_ERR_INVALID);
	assert_int_equal(dt_key_types_parse("ec-p256,,ec-p384", &mask, &err), DT_ERR_INVALID);
	assert_int_equal(dt_key_types_parse("", &mask, &err), DT_ERR_INVALID);
	assert_non_null(strstr(err.msg, "empty"));
	assert_int_equal(dt_key_types_parse(NULL, &mask, &err), DT_ERR_INVALID);
}

static void test_eku_parse(void **state)
{
	struct dt_error err;
	unsigned mask = 0;

	(void)state;
	assert_int_equal(dt_eku_parse("clientAuth", &mask, &err), DT_OK);
	assert_int_equal(mask, DT_EKU_CLIENT_AUTH);
	assert_int_equal(dt_eku_parse("serverAuth,clientAuth", &mask, &err), DT_OK);
	assert_int_equal(mask, DT_EKU_CLIENT_AUTH | DT_EKU_SERVER_AUTH);
	assert_int_equal(dt_eku_parse("clientAuth,codeSigning", &mask, &err), DT_ERR_INVALID);
	assert_non_null(strstr(err.msg, "'codeSigning'"));
	assert_non_null(strstr(err.msg, "EKU"));
	assert_int_equal(dt_eku_parse("", &mask, &err), DT_ERR_INVALID);
}

/* ---- states, criticalities, reasons ---- */

static void test_state_round_trip(void **state)
{
	(void)state;
	for (int s = 0; s < DT_STATE_COUNT; s++) {
		const char *name = dt_state_name((enum dt_state)s);

		assert_string_not_equal(name, "unknown");
		assert_int_equal(dt_state_parse(name), s);
	}
	assert_string_equal(dt_state_name(DT_STATE_SUSPENDED), "suspended");
	assert_int_equal(dt_state_parse("compromised"), DT_STATE_COMPROMISED);
	assert_int_equal(dt_state_parse("deleted"), -1);
	assert_int_equal(dt_state_parse(""), -1);
	assert_int_equal(dt_state_parse(NULL), -1);
	assert_string_equal(dt_state_name((enum dt_state)DT_STATE_COUNT), "unknown");
	assert_string_equal(dt_state_name((enum dt_state) - 1), "unknown");
}

static void test_criticality_parse(void **state)
{
	(void)state;
	assert_int_equal(dt_criticality_parse("low"), DT_CRIT_LOW);
	assert_int_equal(dt_criticality_parse("medium"), DT_CRIT_MEDIUM);
	assert_int_equal(dt_criticality_parse("high"), DT_CRIT_HIGH);
	assert_int_equal(dt_criticality_parse("life-critical"), DT_CRIT_LIFE_CRITICAL);
	assert_int_equal(dt_criticality_parse("critical"), -1);
	assert_int_equal(dt_criticality_parse(""), -1);
	assert_int_equal(dt_criticality_parse(NULL), -1);
	for (int c = DT_CRIT_LOW; c <= DT_CRIT_LIFE_CRITICAL; c++)
		assert_int_equal(dt_criticality_parse(dt_criticality_name((enum dt_criticality)c)),
				 c);
	assert_string_equal(dt_criticality_name((enum dt_criticality)4), "unknown");
}

static void test_reason_parse_and_name(void **state)
{
	static const int codes[] = {0, 1, 2, 3, 4, 5, 6, 8, 9, 10};

	(void)state;
	assert_int_equal(dt_reason_parse("keyCompromise"), DT_REASON_KEY_COMPROMISE);
	assert_int_equal(dt_reason_parse("KEYCOMPROMISE"), DT_REASON_KEY_COMPROMISE);
	assert_int_equal(dt_reason_parse("keycompromise"), DT_REASON_KEY_COMPROMISE);
	assert_int_equal(dt_reason_parse("CessationOfOperation"), DT_REASON_CESSATION);
	assert_int_equal(dt_reason_parse("aACompromise"), DT_REASON_AA_COMPROMISE);
	assert_int_equal(dt_reason_parse("key-compromise"), -1);
	assert_int_equal(dt_reason_parse(""), -1);
	assert_int_equal(dt_reason_parse(NULL), -1);
	/* The names are RFC 5280 section 5.3.1's CRLReason words. */
	assert_string_equal(dt_reason_name(DT_REASON_SUPERSEDED), "superseded");
	assert_string_equal(dt_reason_name(DT_REASON_CERTIFICATE_HOLD), "certificateHold");
	assert_string_equal(dt_reason_name(DT_REASON_REMOVE_FROM_CRL), "removeFromCRL");
	assert_string_equal(dt_reason_name(7), "unknown"); /* value 7 is unused */
	assert_string_equal(dt_reason_name(11), "unknown");
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		assert_int_equal(dt_reason_parse(dt_reason_name(codes[i])), codes[i]);
}

/* ---- serials ---- */

static void serial_ok(const char *in, const char *want)
{
	struct dt_error err;
	char out[DT_SERIAL_HEX_BUF];

	if (dt_serial_normalize(in, out, &err) != DT_OK)
		fail_msg("serial '%s': %s", in, err.msg);
	assert_string_equal(out, want);
}

static void serial_bad(const char *in, const char *msg_part)
{
	struct dt_error err;
	char out[DT_SERIAL_HEX_BUF];

	memset(out, 'x', sizeof(out));
	memset(&err, 0, sizeof(err));
	assert_int_equal(dt_serial_normalize(in, out, &err), DT_ERR_INVALID);
	assert_string_equal(out, "");
	if (!strstr(err.msg, msg_part))
		fail_msg("serial '%s': message '%s' lacks '%s'", in, err.msg, msg_part);
}

static void test_serial_normalize(void **state)
{
	(void)state;
	serial_ok("01:23:AB", "000000000000000000000000000123ab");
	serial_ok("0x1F", "0000000000000000000000000000001f");
	serial_ok("0XabCD", "0000000000000000000000000000abcd");
	serial_ok("000000ff", "000000000000000000000000000000ff");
	serial_ok("0", "00000000000000000000000000000000");
	serial_ok("0123456789ABCDEF0123456789ABCDEF", "0123456789abcdef0123456789abcdef");
	serial_ok("7e:0a:a2:17:9b:56:41:0c:4f:3d:84:0e:0a:49:65:1f",
		  "7e0aa2179b56410c4f3d840e0a49651f");
	/* Other CAs' serials: up to 20 octets (RFC 5280 section 4.1.2.2), not padded down. */
	serial_ok("F123456789abcdef0123456789abcdef01234567",
		  "f123456789abcdef0123456789abcdef01234567");
	serial_ok("0x00:F1:23", "0000000000000000000000000000f123");
	serial_ok("123456789abcdef0123456789abcdef01", "123456789abcdef0123456789abcdef01");
}

static void test_serial_rejects(void **state)
{
	(void)state;
	serial_bad("", "empty");
	serial_bad(NULL, "empty");
	serial_bad("0x", "empty");
	serial_bad(":::", "empty");
	serial_bad("0123456789abcdef0123456789abcdef012345678", "RFC 5280");
	serial_bad("0123456789abcdef0123456789abcdef0123456789abcdef", "20 octets");
	serial_bad("12g4", "not hexadecimal");
	serial_bad("12 34", "not hexadecimal");
	serial_bad("-1", "not hexadecimal");
	serial_bad("0x0x12", "not hexadecimal");
}

/* ---- identifiers and text ---- */

static void test_check_id(void **state)
{
	struct dt_error err;
	char s[DT_MAX_ID_LEN + 2];

	(void)state;
	assert_int_equal(dt_check_id("device id", "pump-1", &err), DT_OK);
	assert_int_equal(dt_check_id("device id", "A.b_C-9", &err), DT_OK);
	assert_int_equal(dt_check_id("device id", "7", &err), DT_OK);
	memset(s, 'a', DT_MAX_ID_LEN);
	s[DT_MAX_ID_LEN] = '\0';
	assert_int_equal(dt_check_id("device id", s, &err), DT_OK);
	s[DT_MAX_ID_LEN] = 'a';
	s[DT_MAX_ID_LEN + 1] = '\0';
	assert_int_equal(dt_check_id("device id", s, &err), DT_ERR_INVALID);
	assert_non_null(strstr(err.msg, "the limit is 64"));
	assert_non_null(strstr(err.msg, "device id"));

	assert_int_equal(dt_check_id("device id", "", &err), DT_ERR_INVALID);
	assert_non_null(strstr(err.msg, "empty"));
	assert_int_equal(dt_check_id("device id", NULL, &err), DT_ERR_INVALID);
	assert_int_equal(dt_check_id("device id", "pump/1", &err), DT_ERR_INVALID);
	assert_non_null(strstr(err.msg, "'/'"));
	assert_int_equal(dt_check_id("device id", "pump 1", &err), DT_ERR_INVALID);
	assert_int_equal(dt_check_id("device id", "pump:1", &err), DT_ERR_INVALID);
	assert_int_equal(dt_check_id("device id", "pump\n1", &err), DT_ERR_INVALID);
	assert_non_null(strstr(err.msg, "'?'")); /* control characters are not echoed */
	assert_int_equal(dt_check_id("device id", "p\xc3\xbcmp", &err), DT_ERR_INVALID);
	assert_int_equal(dt_check_id("device id", ".hidden", &err), DT_ERR_INVALID);
	assert_non_null(strstr(err.msg, "must start"));
	assert_int_equal(dt_check_id("device id", "-rf", &err), DT_ERR_INVALID);
	assert_non_null(strstr(err.msg, "must start"));
}

static void test_check_name(void **state)
{
	struct dt_error err;
	char s[DT_MAX_NAME_LEN + 2];

	(void)state;
	assert_int_equal(dt_check_name("class", "pump", &err), DT_OK);
	assert_int_equal(dt_check_name("class", "infusion-pump-2", &err), DT_OK);
	assert_int_equal(dt_check_name("class", "9", &err), DT_OK);
	memset(s, 'z', DT_MAX_NAME_LEN);
	s[DT_MAX_NAME_LEN] = '\0';
	assert_int_equal(dt_check_name("class", s, &err), DT_OK);
	s[DT_MAX_NAME_LEN] = 'z';
	s[DT_MAX_NAME_LEN + 1] = '\0';
	assert_int_equal(dt_check_name("class", s, &err), DT_ERR_INVALID);
	assert_non_null(strstr(err.msg, "the limit is 64"));

	assert_int_equal(dt_check_name("class", "", &err), DT_ERR_INVALID);
	/* Names go into URL paths: lower case, digits and '-' only. */
	assert_int_equal(dt_check_name("class", "Pump", &err), DT_ERR_INVALID);
	assert_non_null(strstr(err.msg, "'P'"));
	assert_int_equal(dt_check_name("class", "a_b", &err), DT_ERR_INVALID);
	assert_int_equal(dt_check_name("class", "a.b", &err), DT_ERR_INVALID);
	assert_int_equal(dt_check_name("class", "..", &err), DT_ERR_INVALID);
	assert_int_equal(dt_check_name("class", "a/b", &err), DT_ERR_INVALID);
	assert_int_equal(dt_check_name("class", "a%2f", &err), DT_ERR_INVALID);
	assert_int_equal(dt_check_name("class", "-a", &err), DT_ERR_INVALID);
	assert_non_null(strstr(err.msg, "must start"));
}

static void test_check_text(void **state)
{
	struct dt_error err;
	char s[40];

	(void)state;
	assert_int_equal(dt_check_text("owner", "Ward 7, bed 3", 32, &err), DT_OK);
	assert_int_equal(dt_check_text("owner", "caf\xc3\xa9 \xe2\x82\xac", 32, &err), DT_OK);
	assert_int_equal(dt_check_text("owner", "", 32, &err), DT_OK);
	assert_int_equal(dt_check_text("owner", NULL, 32, &err), DT_OK);
	memset(s, 'x', 32);
	s[32] = '\0';
	assert_int_equal(dt_check_text("owner", s, 32, &err), DT_OK);
	s[32] = 'x';
	s[33] = '\0';
	assert_int_equal(dt_check_text("owner", s, 32, &err), DT_ERR_INVALID);
	assert_non_null(strstr(err.msg, "the limit is 32"));
	assert_non_null(strstr(err.msg, "owner"));

	assert_int_equal(dt_check_text("owner", "a\tb", 32, &err), DT_ERR_INVALID);
	assert_non_null(strstr(err.msg, "byte 2"));
	assert_int_equal(dt_check_text("owner", "line\nbreak", 32, &err), DT_ERR_INVALID);
	assert_int_equal(dt_check_text("owner", "esc\x1b[2J", 32, &err), DT_ERR_INVALID);
	assert_int_equal(dt_check_text("owner", "del\x7f", 32, &err), DT_ERR_INVALID);
	assert_non_null(strstr(err.msg, "byte 4"));
}

/*
 * core.h promises "printable UTF-8 text": the text ends up in JSON output
 * (jansson refuses invalid UTF-8), so malformed sequences must be refused here.
 */
static void test_check_text_rejects_invalid_utf8(void **state)
{
	static const char *const bad[] = {
	    "\xff",	    /* never valid */
	    "bed \xc3",	    /* truncated two-byte sequence */
	    "\xc3\x28",	    /* bad continuation byte */
	    "\xc0\xaf",	    /* overlong '/' */
	    "\xed\xa0\x80", /* UTF-16 surrogate */
	    "caf\xe9",	    /* Latin-1, not UTF-8 */
	};
	struct dt_error err;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (dt_check_text("owner", bad[i], 32, &err) != DT_ERR_INVALID)
			fail_msg("dt_check_text accepted invalid UTF-8 #%zu", i);
}

/* ---- private files ---- */

struct tmp {
	char dir[64];
	char path[128];
};

static int tmp_setup(void **state)
{
	struct tmp *t = calloc(1, sizeof(*t));

	assert_non_null(t);
	snprintf(t->dir, sizeof(t->dir), "/tmp/dt-names-XXXXXX");
	assert_non_null(mkdtemp(t->dir));
	snprintf(t->path, sizeof(t->path), "%s/key.pem", t->dir);
	*state = t;
	return 0;
}

static int tmp_teardown(void **state)
{
	struct tmp *t = *state;

	dt_remove_tree(t->dir);
	free(t);
	return 0;
}

static void read_back(const char *path, char *buf, size_t cap)
{
	FILE *f = fopen(path, "rb");
	size_t n;

	assert_non_null(f);
	n = fread(buf, 1, cap - 1, f);
	buf[n] = '\0';
	fclose(f);
}

static void test_private_file_mode_0600(void **state)
{
	struct tmp *t = *state;
	struct dt_error err;
	struct stat sb;
	char buf[64];
	mode_t old = umask(0); /* even a permissive umask must not widen the mode */

	assert_int_equal(dt_write_private_file(t->path, "secret key", 10, &err), DT_OK);
	/* The caller's umask is restored. */
	assert_int_equal(umask(old), 0);
	assert_int_equal(stat(t->path, &sb), 0);
	assert_true(S_ISREG(sb.st_mode));
	assert_int_equal(sb.st_mode & 07777, 0600);
	assert_int_equal(sb.st_size, 10);
	read_back(t->path, buf, sizeof(buf));
	assert_string_equal(buf, "secret key");
}

static void test_private_file_refuses_existing(void **state)
{
	struct tmp *t = *state;
	struct dt_error err;
	char buf[64];

	assert_int_equal(dt_write_private_file(t->path, "first", 5, &err), DT_OK);
	memset(&err, 0, sizeof(err));
	assert_int_equal(dt_write_private_file(t->path, "second", 6, &err), DT_ERR_IO);
	assert_non_null(strstr(err.msg, t->path));
	assert_non_null(strstr(err.msg, strerror(EEXIST)));
	read_back(t->path, buf, sizeof(buf));
	assert_string_equal(buf, "first");
}

static void test_private_file_refuses_symlink(void **state)
{
	struct tmp *t = *state;
	struct dt_error err;
	char target[160];

	/* A planted dangling link must not redirect the key to the attacker's path. */
	snprintf(target, sizeof(target), "%s/elsewhere", t->dir);
	assert_int_equal(symlink(target, t->path), 0);
	assert_int_equal(dt_write_private_file(t->path, "secret", 6, &err), DT_ERR_IO);
	assert_int_equal(access(target, F_OK), -1);
}

static void test_read_file_limit(void **state)
{
	struct tmp *t = *state;
	struct dt_error err;
	unsigned char *data = NULL;
	size_t len = 0;

	assert_int_equal(dt_write_private_file(t->path, "0123456789", 10, &err), DT_OK);
	assert_int_equal(dt_read_file(t->path, 10, &data, &len, &err), DT_OK);
	assert_int_equal(len, 10);
	assert_memory_equal(data, "0123456789", 10);
	free(data);
	data = (unsigned char *)"sentinel";
	assert_int_equal(dt_read_file(t->path, 9, &data, &len, &err), DT_ERR_INVALID);
	assert_null(data);
	assert_int_equal(len, 0);
	assert_non_null(strstr(err.msg, "limit of 9 bytes"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_duration_units),
	    cmocka_unit_test(test_duration_errors),
	    cmocka_unit_test(test_key_types_parse),
	    cmocka_unit_test(test_eku_parse),
	    cmocka_unit_test(test_state_round_trip),
	    cmocka_unit_test(test_criticality_parse),
	    cmocka_unit_test(test_reason_parse_and_name),
	    cmocka_unit_test(test_serial_normalize),
	    cmocka_unit_test(test_serial_rejects),
	    cmocka_unit_test(test_check_id),
	    cmocka_unit_test(test_check_name),
	    cmocka_unit_test(test_check_text),
	    cmocka_unit_test(test_check_text_rejects_invalid_utf8),
	    cmocka_unit_test_setup_teardown(test_private_file_mode_0600, tmp_setup, tmp_teardown),
	    cmocka_unit_test_setup_teardown(test_private_file_refuses_existing, tmp_setup,
					    tmp_teardown),
	    cmocka_unit_test_setup_teardown(test_private_file_refuses_symlink, tmp_setup,
					    tmp_teardown),
	    cmocka_unit_test_setup_teardown(test_read_file_limit, tmp_setup, tmp_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
