/*
 * The device key: generated on the device for each certificate, in the type
 * the server asks for, and never sent anywhere. This file makes keys and
 * names their types; nothing else.
 */
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <string.h>

#include "agent/agent.h"

enum ag_code ag_key_generate(unsigned type, EVP_PKEY **out, struct ag_error *e)
{
	*out = NULL;
	switch (type) {
	case AG_KEY_EC_P256:
		*out = EVP_EC_gen("P-256");
		break;
	case AG_KEY_EC_P384:
		*out = EVP_EC_gen("P-384");
		break;
	case AG_KEY_RSA_2048:
		*out = EVP_RSA_gen(2048);
		break;
	case AG_KEY_RSA_3072:
		*out = EVP_RSA_gen(3072);
		break;
	case AG_KEY_RSA_4096:
		*out = EVP_RSA_gen(4096);
		break;
	case AG_KEY_ED25519:
		*out = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
		break;
	default:
		return ag_fail(e, AG_E_LOCAL, "cannot generate a key of type %u", type);
	}
	if (!*out) {
		ag_fail(e, AG_E_LOCAL, "cannot generate a %s key", ag_key_type_name(type));
		ag_fail_ssl(e);
		return AG_E_LOCAL;
	}
	return AG_OK;
}

unsigned ag_key_type_of(EVP_PKEY *key)
{
	char curve[32];
	size_t n = 0;

	if (!key)
		return AG_KEY_NONE;
	if (EVP_PKEY_is_a(key, "ED25519"))
		return AG_KEY_ED25519;
	if (EVP_PKEY_is_a(key, "RSA")) {
		switch (EVP_PKEY_get_bits(key)) {
		case 2048:
			return AG_KEY_RSA_2048;
		case 3072:
			return AG_KEY_RSA_3072;
		case 4096:
			return AG_KEY_RSA_4096;
		default:
			return AG_KEY_NONE;
		}
	}
	if (EVP_PKEY_is_a(key, "EC") &&
	    EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, curve, sizeof(curve),
					   &n) == 1) {
		if (strcmp(curve, "prime256v1") == 0 || strcmp(curve, "P-256") == 0)
			return AG_KEY_EC_P256;
		if (strcmp(curve, "secp384r1") == 0 || strcmp(curve, "P-384") == 0)
			return AG_KEY_EC_P384;
	}
	ERR_clear_error();
	return AG_KEY_NONE;
}
