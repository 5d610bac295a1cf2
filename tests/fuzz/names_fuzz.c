/*
 * libFuzzer harness for the parsers of words users type: serials, durations,
 * key type and EKU lists, device states, revocation reasons. The input is one
 * NUL-terminated string. Each accepted value must be in its documented range.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/limits.h"
#include "devtrust/inventory.h"
#include "devtrust/pki.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

__attribute__((noreturn)) static void fail(const char *parser, const char *in, const char *why)
{
	fprintf(stderr, "names_fuzz: %s('%.80s'): %s\n", parser, in, why);
	abort();
}

static void check_serial(const char *s)
{
	struct dt_error err = {0};
	char out[DT_SERIAL_HEX_BUF], again[DT_SERIAL_HEX_BUF];
	size_t n;

	if (dt_serial_normalize(s, out, &err) != DT_OK) {
		if (err.msg[0] == '\0')
			fail("dt_serial_normalize", s, "rejected without a message");
		return;
	}
	/* At least our 32 digits, at most RFC 5280's 20 octets, lower-case hex. */
	n = strlen(out);
	if (n < 2 * DT_SERIAL_OCTETS || n > 2 * DT_MAX_SERIAL_OCTETS ||
	    strspn(out, "0123456789abcdef") != n)
		fail("dt_serial_normalize", s, "result is not 32 to 40 lower-case hex digits");
	if (dt_serial_normalize(out, again, &err) != DT_OK || strcmp(out, again) != 0)
		fail("dt_serial_normalize", s, "normalizing the result changes it");
}

static void check_duration(const char *s)
{
	struct dt_error err = {0};
	int64_t secs = -1;

	if (dt_duration_parse(s, &secs, &err) != DT_OK) {
		if (secs != 0 || err.msg[0] == '\0')
			fail("dt_duration_parse", s,
			     "rejected without a message or cleared output");
		return;
	}
	/* The parser refuses a leading sign and caps at DT_MAX_LIFETIME_S. */
	if (secs < 0 || secs > DT_MAX_LIFETIME_S)
		fail("dt_duration_parse", s, "accepted a duration outside 0..20 years");
}

static void check_lists(const char *s)
{
	struct dt_error err = {0};
	unsigned mask = ~0u;

	if (dt_key_types_parse(s, &mask, &err) == DT_OK) {
		if (mask == 0 || (mask & ~(unsigned)DT_KEY_ALL))
			fail("dt_key_types_parse", s, "accepted an empty or unknown mask");
	} else if (err.msg[0] == '\0') {
		fail("dt_key_types_parse", s, "rejected without a message");
	}
	mask = ~0u;
	err.msg[0] = '\0';
	if (dt_eku_parse(s, &mask, &err) == DT_OK) {
		if (mask == 0 || (mask & ~(unsigned)(DT_EKU_CLIENT_AUTH | DT_EKU_SERVER_AUTH)))
			fail("dt_eku_parse", s, "accepted an empty or unknown mask");
	} else if (err.msg[0] == '\0') {
		fail("dt_eku_parse", s, "rejected without a message");
	}
}

static void check_words(const char *s)
{
	int st = dt_state_parse(s);
	int r = dt_reason_parse(s);

	if (st < -1 || st >= DT_STATE_COUNT ||
	    (st >= 0 && strcmp(dt_state_name((enum dt_state)st), s) != 0))
		fail("dt_state_parse", s, "result does not name the input");
	if (r < -1 || r > DT_REASON_AA_COMPROMISE ||
	    (r >= 0 && strcasecmp(dt_reason_name(r), s) != 0))
		fail("dt_reason_parse", s, "result does not name the input");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (!s)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	check_serial(s);
	check_duration(s);
	check_lists(s);
	check_words(s);
	free(s);
	return 0;
}
