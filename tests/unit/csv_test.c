/*
 * The CSV line splitter behind device import: RFC 4180 fields, and every
 * malformed line refused with the field at fault rather than guessed at.
 */
#include "testutil.h"

#include "core/limits.h"
#include "inventory/csv.h"

static struct csv_record rec;

static void split_ok(const char *line, int nfields, ...)
{
	struct dt_error err;
	va_list ap;

	memset(&rec, 0x55, sizeof(rec));
	if (csv_split(line, strlen(line), &rec, &err) != DT_OK)
		fail_msg("'%s': %s", line, err.msg);
	assert_int_equal(rec.nfields, nfields);
	va_start(ap, nfields);
	for (int i = 0; i < nfields; i++)
		assert_string_equal(rec.field[i], va_arg(ap, const char *));
	va_end(ap);
}

static void split_bad(const char *line, size_t len, const char *msg_part)
{
	struct dt_error err;

	memset(&err, 0, sizeof(err));
	assert_int_equal(csv_split(line, len, &rec, &err), DT_ERR_INVALID);
	if (!strstr(err.msg, msg_part))
		fail_msg("message '%s' lacks '%s'", err.msg, msg_part);
}

static void test_simple_fields(void **state)
{
	(void)state;
	split_ok("pump-1,pump,SN-1", 3, "pump-1", "pump", "SN-1");
	split_ok("one", 1, "one");
	split_ok("a b ,  c", 2, "a b ", "  c"); /* spaces are data (RFC 4180 section 2.4) */
}

static void test_empty_fields(void **state)
{
	(void)state;
	split_ok("", 1, "");
	split_ok(",,", 3, "", "", "");
	split_ok("a,,c", 3, "a", "", "c");
	split_ok("\"\",x", 2, "", "x");
}

static void test_trailing_comma(void **state)
{
	(void)state;
	split_ok("a,b,", 3, "a", "b", "");
	split_ok("\"a\",", 2, "a", "");
}

static void test_quoted_comma(void **state)
{
	(void)state;
	split_ok("pump-1,\"Ward 7, bed 3\",high", 3, "pump-1", "Ward 7, bed 3", "high");
	split_ok("\",\"", 1, ",");
}

static void test_doubled_quotes(void **state)
{
	(void)state;
	split_ok("\"say \"\"hi\"\"\",x", 2, "say \"hi\"", "x");
	split_ok("\"\"\"\"", 1, "\"");
	split_ok("\"\"\"a,b\"\"\"", 1, "\"a,b\"");
}

static void test_unterminated_quote(void **state)
{
	(void)state;
	split_bad("\"abc", 4, "quote not closed");
	split_bad("a,\"bc", 5, "field 2");
	/* A doubled quote at the end is data, not the closing quote. */
	split_bad("\"abc\"\"", 6, "quote not closed");
	split_bad("\"", 1, "RFC 4180");
}

static void test_text_after_closing_quote(void **state)
{
	(void)state;
	split_bad("\"a\"b", 4, "text after the closing quote");
	split_bad("x,\"a\" ,y", 8, "field 2");
}

static void test_quote_in_unquoted_field(void **state)
{
	(void)state;
	split_bad("ab\"c", 4, "quote inside an unquoted field");
	split_bad("a,b\"", 4, "field 2");
	split_bad(" \"a\"", 4, "quote inside an unquoted field");
}

static void test_field_count_limit(void **state)
{
	char line[64] = "";

	(void)state;
	/* CSV_MAX_FIELDS fields is fine... */
	for (int i = 0; i < CSV_MAX_FIELDS - 1; i++)
		strcat(line, "f,");
	strcat(line, "f");
	split_ok(line, CSV_MAX_FIELDS, "f", "f", "f", "f", "f", "f", "f", "f", "f", "f", "f", "f",
		 "f", "f", "f", "f");
	/* ...one more is refused, including an empty one from a trailing comma. */
	strcat(line, ",");
	split_bad(line, strlen(line), "more than 16 fields");
	strcat(line, "g");
	split_bad(line, strlen(line), "more than 16 fields");
}

static void test_line_length_limit(void **state)
{
	static char line[DT_MAX_CSV_LINE + 2];
	struct dt_error err;
	size_t n = DT_MAX_CSV_LINE;

	(void)state;
	/* The longest line, cut into the most fields: fills rec.buf exactly. */
	memset(line, 'x', sizeof(line));
	for (int i = 1; i < CSV_MAX_FIELDS; i++)
		line[n - (size_t)i * 2] = ',';
	assert_int_equal(csv_split(line, n, &rec, &err), DT_OK);
	assert_int_equal(rec.nfields, CSV_MAX_FIELDS);
	assert_int_equal(strlen(rec.field[0]), n - 2 * (CSV_MAX_FIELDS - 1));
	assert_string_equal(rec.field[CSV_MAX_FIELDS - 1], "x");
	assert_string_equal(rec.field[1], "x");

	memset(line, 'x', sizeof(line));
	assert_int_equal(csv_split(line, n, &rec, &err), DT_OK);
	assert_int_equal(rec.nfields, 1);
	assert_int_equal(strlen(rec.field[0]), n);
	split_bad(line, n + 1, "longer than 4096 bytes");
}

static void test_respects_length(void **state)
{
	struct dt_error err;

	(void)state;
	/* The line is (ptr, len), not a C string: bytes past len are not read. */
	assert_int_equal(csv_split("a,b,\"c", 3, &rec, &err), DT_OK);
	assert_int_equal(rec.nfields, 2);
	assert_string_equal(rec.field[0], "a");
	assert_string_equal(rec.field[1], "b");
	assert_int_equal(csv_split("\"q\"trailing", 3, &rec, &err), DT_OK);
	assert_int_equal(rec.nfields, 1);
	assert_string_equal(rec.field[0], "q");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_simple_fields),
	    cmocka_unit_test(test_empty_fields),
	    cmocka_unit_test(test_trailing_comma),
	    cmocka_unit_test(test_quoted_comma),
	    cmocka_unit_test(test_doubled_quotes),
	    cmocka_unit_test(test_unterminated_quote),
	    cmocka_unit_test(test_text_after_closing_quote),
	    cmocka_unit_test(test_quote_in_unquoted_field),
	    cmocka_unit_test(test_field_count_limit),
	    cmocka_unit_test(test_line_length_limit),
	    cmocka_unit_test(test_respects_length),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
