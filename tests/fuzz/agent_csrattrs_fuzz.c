/*
 * libFuzzer harness for devtrust-agent's parser of /csrattrs replies
 * (ag_csrattrs_parse: base64, then CsrAttrs, RFC 7030 section 4.5.2) and the
 * key choice that follows (ag_key_type_choose). Beyond "no crash": what is
 * allowed is made of key types the agent knows, and for every configured
 * preference the choice is exactly one known type, the preference when the
 * server allows it, and one the server allows when it gave advice.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "agent/agent.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ALL_TYPES                                                                                  \
	(AG_KEY_EC_P256 | AG_KEY_EC_P384 | AG_KEY_RSA_2048 | AG_KEY_RSA_3072 | AG_KEY_RSA_4096 |   \
	 AG_KEY_ED25519)

__attribute__((noreturn)) static void fail(const char *why, const struct ag_error *e)
{
	fprintf(stderr, "agent_csrattrs_fuzz: %s (%s)\n", why, e ? e->msg : "");
	abort();
}

static void check_choice(unsigned allowed, unsigned configured)
{
	struct ag_error e = {0};
	unsigned got = 0;

	if (ag_key_type_choose(allowed, configured, &got, &e) != AG_OK)
		fail("no key chosen", &e);
	if (got == 0 || (got & (got - 1)) != 0 || (got & ~ALL_TYPES) != 0)
		fail("the choice is not exactly one known key type", NULL);
	if (allowed != 0 && !(got & allowed))
		fail("chose a key type the server did not ask for", NULL);
	if (configured && (allowed == 0 || (allowed & configured)) && got != configured)
		fail("ignored an allowed preference", NULL);
	if (!configured && allowed == 0 && got != AG_KEY_EC_P256)
		fail("without advice or preference the key is not P-256", NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ag_error e = {0};
	unsigned allowed = 0xdead;
	enum ag_code rc;

	rc = ag_csrattrs_parse(data, size, &allowed, &e);
	if (rc != AG_OK) {
		if (allowed != 0 || e.code != rc || e.msg[0] == '\0' ||
		    (rc != AG_E_REFUSED && rc != AG_E_LOCAL))
			fail("a rejection without its code and message, or with output", &e);
		return 0;
	}
	if (allowed & ~ALL_TYPES)
		fail("allowed holds an unknown key type", NULL);
	check_choice(allowed, AG_KEY_NONE);
	for (unsigned t = AG_KEY_EC_P256; t <= AG_KEY_ED25519; t <<= 1)
		check_choice(allowed, t);
	return 0;
}
