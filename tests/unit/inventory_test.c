/*
 * Inventory: device validation, listing filters, the all-or-nothing CSV
 * import with its token file, and enrollment tokens.
 */
#include "testutil.h"

#include <time.h>

#define HEADER "id,class,serial,manufacturer,model,firmware,owner,location,criticality\n"

static dt_code add(struct tenv *t, const char *id, const char *cls, const char *serial,
		   const char *owner, const char *manufacturer, char token[DT_TOKEN_BUF],
		   struct dt_error *err)
{
	struct dt_device d;

	memset(&d, 0, sizeof(d));
	snprintf(d.id, sizeof(d.id), "%s", id);
	snprintf(d.class_name, sizeof(d.class_name), "%s", cls);
	snprintf(d.serial, sizeof(d.serial), "%s", serial);
	snprintf(d.owner, sizeof(d.owner), "%s", owner ? owner : "");
	snprintf(d.manufacturer, sizeof(d.manufacturer), "%s", manufacturer ? manufacturer : "");
	return dt_device_add(t->ctx, &d, token, err);
}

static int exists(struct tenv *t, const char *id)
{
	struct dt_device d;
	struct dt_error err;
	dt_code rc = dt_device_get(t->ctx, id, &d, &err);

	assert_true(rc == DT_OK || rc == DT_ERR_NOT_FOUND);
	return rc == DT_OK;
}

static void pump_class(struct tenv *t)
{
	tu2_class(t, "pump", "default", DT_KEY_EC_P256, 30 * 86400, 0);
}

static void test_device_add_validation(void **state)
{
	struct tenv *t = *state;
	struct dt_error err;
	char token[DT_TOKEN_BUF];
	static const char *const bad_ids[] = {"",      "pump 1", "pump/1", "pump:1", "p\xc3\xbcmp",
					      "-pump", ".pump",	 "a\tb",   "pump,1"};
	static const char *const bad_serials[] = {"SN_1", "SN@1",  "SN*1",
						  "SN#1", "SN\"1", "S\xc3\xa9"};
	char long_id[80];
	struct dt_device d;

	pump_class(t);
	for (size_t i = 0; i < sizeof(bad_ids) / sizeof(bad_ids[0]); i++) {
		memset(token, 'Z', sizeof(token));
		if (add(t, bad_ids[i], "pump", "SN-1", NULL, NULL, token, &err) != DT_ERR_INVALID)
			fail_msg("id '%s' was accepted", bad_ids[i]);
		assert_int_equal(token[0], '\0');
	}
	/* 64 characters (X.520 ub-common-name) fit; 65 cannot even be passed in the
	 * struct, so the calls taking an id as a string must refuse it. */
	memset(long_id, 'a', 64);
	long_id[64] = '\0';
	assert_int_equal(add(t, long_id, "pump", "SN-1", NULL, NULL, token, &err), DT_OK);
	assert_true(exists(t, long_id));
	long_id[64] = 'a';
	long_id[65] = '\0';
	assert_int_equal(dt_device_token(t->ctx, long_id, 0, token, &err), DT_ERR_INVALID);
	assert_int_equal(dt_device_token_check(t->ctx, long_id, "x", &err), DT_ERR_NOT_FOUND);

	for (size_t i = 0; i < sizeof(bad_serials) / sizeof(bad_serials[0]); i++) {
		if (add(t, "pump-s", "pump", bad_serials[i], NULL, NULL, token, &err) !=
		    DT_ERR_INVALID)
			fail_msg("serial '%s' was accepted", bad_serials[i]);
		assert_non_null(strstr(err.msg, "serial"));
	}
	assert_false(exists(t, "pump-s"));
	/* Every PrintableString character is fine. */
	assert_int_equal(add(t, "pump-p", "pump", "Aa 09'()+,-./:=?", NULL, NULL, token, &err),
			 DT_OK);

	assert_int_equal(add(t, "pump-c", "nope", "SN-1", NULL, NULL, token, &err),
			 DT_ERR_NOT_FOUND);
	assert_int_equal(token[0], '\0');
	assert_false(exists(t, "pump-c"));
	assert_int_equal(add(t, "pump-c", "Pump", "SN-1", NULL, NULL, token, &err), DT_ERR_INVALID);

	assert_int_equal(add(t, "pump-1", "pump", "SN-1", "ward-3", NULL, token, &err), DT_OK);
	assert_int_equal(strlen(token), 32);
	assert_int_equal(add(t, "pump-1", "pump", "SN-2", "ward-9", NULL, token, &err),
			 DT_ERR_EXISTS);
	assert_int_equal(token[0], '\0');
	assert_int_equal(dt_device_get(t->ctx, "pump-1", &d, &err), DT_OK);
	assert_string_equal(d.serial, "SN-1");
	assert_string_equal(d.owner, "ward-3");
	assert_int_equal(d.state, DT_STATE_REGISTERED);
	assert_true(d.token_expires > (int64_t)time(NULL));
}

struct ids {
	char list[512];
	int n;
};

static int collect(void *arg, const struct dt_device *d)
{
	struct ids *ids = arg;
	size_t len = strlen(ids->list);

	snprintf(ids->list + len, sizeof(ids->list) - len, "%s%s", ids->n ? "," : "", d->id);
	ids->n++;
	return 0;
}

static const char *list(struct tenv *t, const char *cls, int st, const char *owner,
			const char *manufacturer, struct ids *ids)
{
	struct dt_device_filter f = {cls, st, owner, manufacturer, NULL};
	struct dt_error err;

	memset(ids, 0, sizeof(*ids));
	if (dt_device_list(t->ctx, &f, collect, ids, &err) != DT_OK)
		fail_msg("list: %s", err.msg);
	return ids->list;
}

static void test_device_list_filters(void **state)
{
	struct tenv *t = *state;
	struct dt_error err;
	char token[DT_TOKEN_BUF];
	struct ids ids;

	pump_class(t);
	tu2_class(t, "scanner", "default", DT_KEY_EC_P256, 30 * 86400, 0);
	assert_int_equal(add(t, "p-2", "pump", "1", "ward-3", "acme", token, &err), DT_OK);
	assert_int_equal(add(t, "p-1", "pump", "2", "ward-4", "acme", token, &err), DT_OK);
	assert_int_equal(add(t, "s-1", "scanner", "3", "ward-3", "globex", token, &err), DT_OK);
	assert_int_equal(add(t, "s-2", "scanner", "4", "ward-4", "acme", token, &err), DT_OK);
	tu2_issue(t, "p-1", "P-256", NULL); /* p-1 becomes active */
	assert_int_equal(dt_device_transition(t->ctx, "s-2", DT_TR_RETIRE, NULL, NULL, &err),
			 DT_OK);

	assert_string_equal(list(t, NULL, -1, NULL, NULL, &ids), "p-1,p-2,s-1,s-2");
	assert_string_equal(list(t, "pump", -1, NULL, NULL, &ids), "p-1,p-2");
	assert_string_equal(list(t, NULL, DT_STATE_ACTIVE, NULL, NULL, &ids), "p-1");
	assert_string_equal(list(t, NULL, DT_STATE_REGISTERED, NULL, NULL, &ids), "p-2,s-1");
	assert_string_equal(list(t, NULL, DT_STATE_RETIRED, NULL, NULL, &ids), "s-2");
	assert_string_equal(list(t, NULL, -1, "ward-3", NULL, &ids), "p-2,s-1");
	assert_string_equal(list(t, NULL, -1, NULL, "acme", &ids), "p-1,p-2,s-2");
	assert_string_equal(list(t, "scanner", -1, "ward-4", "acme", &ids), "s-2");
	assert_string_equal(list(t, "scanner", DT_STATE_ACTIVE, NULL, NULL, &ids), "");
	assert_string_equal(list(t, "nope", -1, NULL, NULL, &ids), "");
	memset(&ids, 0, sizeof(ids));
	assert_int_equal(dt_device_list(t->ctx, NULL, collect, &ids, &err), DT_OK);
	assert_int_equal(ids.n, 4);
}

/* Runs an import from text; tokens_out (if set) receives the token file. */
static dt_code import(struct tenv *t, const char *csv, char **tokens_out, int64_t *n,
		      struct dt_error *err)
{
	FILE *in = fmemopen((void *)csv, strlen(csv), "r");
	char *buf = NULL;
	size_t len = 0;
	FILE *tok = tokens_out ? open_memstream(&buf, &len) : NULL;
	dt_code rc;

	assert_non_null(in);
	rc = dt_device_import_csv(t->ctx, in, tok, n, err);
	fclose(in);
	if (tok) {
		fclose(tok);
		*tokens_out = buf;
	}
	return rc;
}

static int device_count(struct tenv *t)
{
	struct ids ids;

	list(t, NULL, -1, NULL, NULL, &ids);
	return ids.n;
}

static void test_import_good_file(void **state)
{
	struct tenv *t = *state;
	struct dt_error err;
	struct dt_device d;
	int64_t n = -1;
	char *tokens = NULL;
	static const char csv[] =
	    HEADER "pump-1,pump,SN-1,Acme,P100,1.2.3,ward-3,\"Bed 2, Room 7\",life-critical\r\n"
		   "pump-2,pump,SN-2,Acme,P100,1.2.3,ward-3,\"say \"\"hi\"\"\",low\r\n"
		   "\n"
		   "pump-3,pump,SN-3,,,,,,\n";

	pump_class(t);
	assert_int_equal(import(t, csv, &tokens, &n, &err), DT_OK);
	assert_int_equal(n, 3);
	assert_int_equal(device_count(t), 3);
	assert_int_equal(dt_device_get(t->ctx, "pump-1", &d, &err), DT_OK);
	assert_string_equal(d.class_name, "pump");
	assert_string_equal(d.serial, "SN-1");
	assert_string_equal(d.manufacturer, "Acme");
	assert_string_equal(d.model, "P100");
	assert_string_equal(d.firmware, "1.2.3");
	assert_string_equal(d.location, "Bed 2, Room 7");
	assert_int_equal(d.criticality, DT_CRIT_LIFE_CRITICAL);
	assert_int_equal(d.state, DT_STATE_REGISTERED);
	assert_int_equal(dt_device_get(t->ctx, "pump-2", &d, &err), DT_OK);
	assert_string_equal(d.location, "say \"hi\"");
	assert_int_equal(d.criticality, DT_CRIT_LOW);
	assert_int_equal(dt_device_get(t->ctx, "pump-3", &d, &err), DT_OK);
	assert_int_equal(d.criticality, DT_CRIT_MEDIUM); /* the default */

	/* The token file: one "id,token" line per device, each token valid for its device. */
	{
		char id[DT_ID_BUF], tok[DT_TOKEN_BUF];
		int lines = 0, off = 0, used;
		const char *want[] = {"pump-1", "pump-2", "pump-3"};

		assert_non_null(tokens);
		while (sscanf(tokens + off, "%64[^,],%32[0-9a-f]\n%n", id, tok, &used) == 2) {
			assert_true(lines < 3);
			assert_string_equal(id, want[lines]);
			assert_int_equal(strlen(tok), 32);
			assert_int_equal(dt_device_token_check(t->ctx, id, tok, &err), DT_OK);
			/* ...and only for its own device. */
			assert_int_equal(
			    dt_device_token_check(t->ctx, want[(lines + 1) % 3], tok, &err),
			    DT_ERR_AUTH);
			off += used;
			lines++;
		}
		assert_int_equal(lines, 3);
		assert_int_equal(tokens[off], '\0');
		free(tokens);
	}
}

/* Asserts a failed import: code, nothing stored, message names line and field. */
static void expect_import_fails(struct tenv *t, const char *csv, dt_code code, const char *line,
				const char *field)
{
	struct dt_error err;
	int64_t n = -1;
	int before = device_count(t);
	dt_code rc = import(t, csv, NULL, &n, &err);

	if (rc != code)
		fail_msg("want %s, got %s: %s", dt_code_name(code), dt_code_name(rc), err.msg);
	assert_int_equal(n, 0);
	assert_int_equal(device_count(t), before);
	if (line && !strstr(err.msg, line))
		fail_msg("message '%s' does not name '%s'", err.msg, line);
	if (field && !strstr(err.msg, field))
		fail_msg("message '%s' does not name field '%s'", err.msg, field);
}

/*
 * All or nothing covers the token file too: a failed import hands out no
 * token, or the file would list devices that do not exist (and whose ids a
 * corrected re-import gives other tokens).
 */
static void test_failed_import_writes_no_tokens(void **state)
{
	struct tenv *t = *state;
	struct dt_error err;
	int64_t n = -1;
	char *tokens = NULL;

	pump_class(t);
	assert_int_equal(import(t,
				HEADER "pump-1,pump,SN-1,,,,,,\n"
				       "pump-2,pump,SN-2,,,,,,\n"
				       "pump-3,pump,SN_3,,,,,,\n",
				&tokens, &n, &err),
			 DT_ERR_INVALID);
	assert_int_equal(device_count(t), 0);
	assert_non_null(tokens);
	{
		char written[256];
		snprintf(written, sizeof(written), "%s", tokens);
		free(tokens);
		if (written[0])
			fail_msg("failed import wrote tokens for devices that do not exist:\n%s",
				 written);
	}
}

static void test_import_bad_row_imports_nothing(void **state)
{
	struct tenv *t = *state;

	pump_class(t);
	expect_import_fails(t,
			    HEADER "pump-1,pump,SN-1,,,,,,\n"
				   "pump-2,pump,SN-2,,,,,,\n"
				   "pump-3,pump,SN_3,,,,,,\n"
				   "pump-4,pump,SN-4,,,,,,\n",
			    DT_ERR_INVALID, "line 4", "serial");
	assert_false(exists(t, "pump-1"));
	expect_import_fails(t,
			    HEADER "pump-1,pump,SN-1,,,,,,\n"
				   "pump-2,pump,SN-2,,,,,,\n"
				   "pump 3,pump,SN-3,,,,,,\n",
			    DT_ERR_INVALID, "line 4", "'id'");
	expect_import_fails(t,
			    HEADER
			    "pump-1,pump,SN-1,,,,,,\n"
			    "pump-2,pump,SN-2,,,,,,\n"
			    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa,"
			    "pump,SN-3,,,,,,\n",
			    DT_ERR_INVALID, "line 4", "'id'");
	expect_import_fails(t,
			    HEADER "pump-1,pump,SN-1,,,,,,\n"
				   "pump-2,pump,SN-2,,,,,,\n"
				   "pump-3,pump,SN-3,,,,,,urgent\n",
			    DT_ERR_INVALID, "line 4", "criticality");
	expect_import_fails(t,
			    HEADER "pump-1,pump,SN-1,,,,,,\n"
				   "pump-2,pump,SN-2,,,,,,\n"
				   "pump-3,pump,SN-3,,,,\n",
			    DT_ERR_INVALID, "line 4", NULL);
	expect_import_fails(t,
			    HEADER "pump-1,pump,SN-1,,,,,,\n"
				   "pump-2,pump,SN-2,,,,,,\n"
				   "pump-3,pump,\"SN-3,,,,,,\n",
			    DT_ERR_INVALID, "line 4", NULL);
	assert_int_equal(device_count(t), 0);
}

static void test_import_duplicates_and_unknowns(void **state)
{
	struct tenv *t = *state;
	struct dt_error err;
	char token[DT_TOKEN_BUF];

	pump_class(t);
	expect_import_fails(t,
			    HEADER "pump-1,pump,SN-1,,,,,,\n"
				   "pump-2,pump,SN-2,,,,,,\n"
				   "pump-1,pump,SN-3,,,,,,\n",
			    DT_ERR_EXISTS, "line 4", "'id'");
	assert_int_equal(add(t, "old-1", "pump", "SN-0", NULL, NULL, token, &err), DT_OK);
	expect_import_fails(t, HEADER "pump-1,pump,SN-1,,,,,,\nold-1,pump,SN-2,,,,,,\n",
			    DT_ERR_EXISTS, "line 3", "'id'");
	expect_import_fails(t, HEADER "pump-1,pump,SN-1,,,,,,\npump-2,pumps,SN-2,,,,,,\n",
			    DT_ERR_NOT_FOUND, "line 3", "class");
	expect_import_fails(t, "id,class,serial,colour\npump-1,pump,SN-1,red\n", DT_ERR_INVALID,
			    "line 1", "colour");
	expect_import_fails(t, "id,serial\npump-1,SN-1\n", DT_ERR_INVALID, "line 1", "class");
	expect_import_fails(t, "id,class,id\npump-1,pump,x\n", DT_ERR_INVALID, "line 1", "twice");
	expect_import_fails(t, "", DT_ERR_INVALID, NULL, NULL);
	assert_int_equal(device_count(t), 1);
}

/* A reduced header: columns in any order, missing ones empty. */
static void test_import_column_subset(void **state)
{
	struct tenv *t = *state;
	struct dt_error err;
	struct dt_device d;
	int64_t n = 0;

	pump_class(t);
	assert_int_equal(
	    import(t, "\xEF\xBB\xBFserial,class,id\nSN-9,pump,pump-9\n", NULL, &n, &err), DT_OK);
	assert_int_equal(n, 1);
	assert_int_equal(dt_device_get(t->ctx, "pump-9", &d, &err), DT_OK);
	assert_string_equal(d.serial, "SN-9");
	assert_string_equal(d.owner, "");
	/* Without a token file, the device has no usable token. */
	assert_int_equal(d.token_expires, 0);
}

static void test_tokens(void **state)
{
	struct tenv *t = *state;
	struct dt_error err;
	struct dt_device d;
	char first[DT_TOKEN_BUF], second[DT_TOKEN_BUF], wrong[DT_TOKEN_BUF];
	int64_t now = (int64_t)time(NULL);

	pump_class(t);
	assert_int_equal(add(t, "pump-1", "pump", "SN-1", NULL, NULL, first, &err), DT_OK);
	assert_int_equal(dt_device_token_check(t->ctx, "pump-1", first, &err), DT_OK);
	/* Checking does not consume. */
	assert_int_equal(dt_device_token_check(t->ctx, "pump-1", first, &err), DT_OK);

	assert_int_equal(dt_device_token(t->ctx, "pump-1", 3600, second, &err), DT_OK);
	assert_int_equal(strlen(second), 32);
	assert_int_equal(dt_device_get(t->ctx, "pump-1", &d, &err), DT_OK);
	assert_true(d.token_expires >= now + 3600 && d.token_expires <= now + 3600 + 60);
	assert_int_equal(dt_device_token_check(t->ctx, "pump-1", second, &err), DT_OK);
	assert_int_equal(dt_device_token_check(t->ctx, "pump-1", first, &err), DT_ERR_AUTH);

	snprintf(wrong, sizeof(wrong), "%s", second);
	wrong[31] = wrong[31] == 'a' ? 'b' : 'a';
	assert_int_equal(dt_device_token_check(t->ctx, "pump-1", wrong, &err), DT_ERR_AUTH);
	assert_int_equal(dt_device_token_check(t->ctx, "pump-1", "", &err), DT_ERR_AUTH);
	assert_int_equal(dt_device_token_check(t->ctx, "pump-1", "abc", &err), DT_ERR_AUTH);
	assert_int_equal(dt_device_token_check(t->ctx, "nope", second, &err), DT_ERR_NOT_FOUND);

	/* Expiry: move the stored expiry into the past behind the library's back. */
	tu2_sql(t, "UPDATE devices SET token_expires = strftime('%s','now') - 1 WHERE id='pump-1'");
	assert_int_equal(dt_device_token_check(t->ctx, "pump-1", second, &err), DT_ERR_AUTH);
	assert_non_null(strstr(err.msg, "expired"));

	/* Lifetime bounds and state rules of new tokens. */
	assert_int_equal(dt_device_token(t->ctx, "pump-1", 366 * 86400LL, second, &err),
			 DT_ERR_INVALID);
	assert_int_equal(second[0], '\0');
	assert_int_equal(dt_device_token(t->ctx, "nope", 0, second, &err), DT_ERR_NOT_FOUND);
	assert_int_equal(dt_device_token(t->ctx, "pump-1", 0, second, &err), DT_OK);
	assert_int_equal(dt_device_get(t->ctx, "pump-1", &d, &err), DT_OK);
	assert_true(d.token_expires >= now + 7 * 86400 && d.token_expires <= now + 7 * 86400 + 60);
	assert_int_equal(dt_device_transition(t->ctx, "pump-1", DT_TR_RETIRE, NULL, NULL, &err),
			 DT_OK);
	/* Retiring drops the token, and a retired device gets no new one. */
	assert_int_equal(dt_device_token_check(t->ctx, "pump-1", second, &err), DT_ERR_AUTH);
	assert_int_equal(dt_device_token(t->ctx, "pump-1", 0, first, &err), DT_ERR_STATE);
}

#define T(f) cmocka_unit_test_setup_teardown(f, tu_setup, tu_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_device_add_validation),
	    T(test_device_list_filters),
	    T(test_import_good_file),
	    T(test_import_bad_row_imports_nothing),
	    T(test_import_duplicates_and_unknowns),
	    T(test_import_column_subset),
	    T(test_failed_import_writes_no_tokens),
	    T(test_tokens),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
