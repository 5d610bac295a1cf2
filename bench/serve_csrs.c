/*
 * Request bodies for the EST load test of bench/serve_bench.sh: for every
 * "id,token" line of a `devtrust device import --tokens-out` file, a fresh
 * P-256 key and a PKCS#10 request (CN = id), written as one line
 *   base64(id:token) <TAB> base64(DER CSR)
 * to EST_OUT (bench/est_enroll.lua turns the first field into an
 * "Authorization: Basic" header), and, when CFSSL_OUT is given, as one line
 *   {"certificate_request": "<PEM CSR, newlines escaped>"}
 * to CFSSL_OUT, the body of cfssl's POST /api/v1/cfssl/sign.
 * Usage: serve_csrs TOKENS.csv EST_OUT [CFSSL_OUT]   (two threads)
 */
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct item {
	char *id, *token;
	char *est, *cfssl; /* the output lines */
};

static struct item *items;
static long nitems;
static int want_cfssl;

static void die(const char *what)
{
	fprintf(stderr, "serve_csrs: %s failed\n", what);
	exit(1);
}

static char *b64(const unsigned char *in, size_t n)
{
	char *out = malloc(4 * ((n + 2) / 3) + 1);

	if (!out)
		die("malloc");
	EVP_EncodeBlock((unsigned char *)out, in, (int)n);
	return out;
}

/* DER tag + length + content at out (c may overlap out); returns the bytes written. */
static size_t der(unsigned char *out, unsigned char tag, const unsigned char *c, size_t n)
{
	unsigned char h[4];
	size_t hl = 0;

	h[hl++] = tag;
	if (n < 128) {
		h[hl++] = (unsigned char)n;
	} else if (n < 256) {
		h[hl++] = 0x81;
		h[hl++] = (unsigned char)n;
	} else {
		h[hl++] = 0x82;
		h[hl++] = (unsigned char)(n >> 8);
		h[hl++] = (unsigned char)n;
	}
	memmove(out + hl, c, n);
	memcpy(out, h, hl);
	return hl + n;
}

/*
 * The PKCS#10 DER is put together by hand: X509_REQ_set_pubkey and
 * X509_REQ_sign go through OpenSSL 3's encoders and fetches and cost about
 * 5 times the key generation and signature themselves.
 */
static void make_one(struct item *it, EVP_PKEY_CTX *kctx, EVP_MD_CTX *md)
{
	/* SubjectPublicKeyInfo of P-256 up to the 65-byte point. */
	static const unsigned char spki_prefix[] = {
	    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01,
	    0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00};
	/* AlgorithmIdentifier ecdsa-with-SHA256 */
	static const unsigned char sigalg[] = {0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86,
					       0x48, 0xce, 0x3d, 0x04, 0x03, 0x02};
	EVP_PKEY *k = NULL;
	unsigned char body[1024], tmp[1024], tbs[1024], csr[1200], sig[128];
	size_t o = 0, n, tl, pl = 0, sl = sizeof(sig) - 1, idl = strlen(it->id);
	char cred[512], *a, *d;

	if (idl > 64 || EVP_PKEY_keygen(kctx, &k) != 1)
		die("key generation");
	/* TBS: version 0, subject CN=id, SPKI, empty attributes [0] */
	memcpy(body, "\x02\x01\x00", 3);
	o = 3;
	n = der(tmp, 0x06, (const unsigned char *)"\x55\x04\x03", 3);
	n += der(tmp + n, 0x0c, (const unsigned char *)it->id, idl);
	n = der(tmp, 0x30, tmp, n);
	n = der(tmp, 0x31, tmp, n);
	o += der(body + o, 0x30, tmp, n);
	memcpy(body + o, spki_prefix, sizeof(spki_prefix));
	o += sizeof(spki_prefix);
	if (EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, body + o, 65,
					    &pl) != 1 ||
	    pl != 65)
		die("public key");
	o += pl;
	body[o++] = 0xa0;
	body[o++] = 0x00;
	tl = der(tbs, 0x30, body, o);
	/* signature BIT STRING: 0 unused bits, then the DER ECDSA-Sig-Value */
	sig[0] = 0;
	if (EVP_DigestSignInit_ex(md, NULL, "SHA256", NULL, NULL, k, NULL) != 1 ||
	    EVP_DigestSign(md, sig + 1, &sl, tbs, tl) != 1 || sl > 100)
		die("signature");
	EVP_MD_CTX_reset(md);
	memcpy(tmp, tbs, tl);
	memcpy(tmp + tl, sigalg, sizeof(sigalg));
	n = tl + sizeof(sigalg);
	n += der(tmp + n, 0x03, sig, sl + 1);
	n = der(csr, 0x30, tmp, n);

	snprintf(cred, sizeof(cred), "%s:%s", it->id, it->token);
	a = b64((const unsigned char *)cred, strlen(cred));
	d = b64(csr, n);
	if (!(it->est = malloc(strlen(a) + strlen(d) + 3)))
		die("malloc");
	sprintf(it->est, "%s\t%s\n", a, d);
	if (want_cfssl) {
		/* PEM = 64-column lines of the same base64; JSON escapes the newlines. */
		size_t dl = strlen(d);
		char *j = malloc(dl + dl / 64 * 2 + 160);

		if (!j)
			die("malloc");
		o = (size_t)sprintf(j, "{\"certificate_request\": \"-----BEGIN CERTIFICATE "
				       "REQUEST-----\\n");
		for (size_t i = 0; i < dl; i += 64) {
			size_t m = dl - i < 64 ? dl - i : 64;
			memcpy(j + o, d + i, m);
			o += m;
			memcpy(j + o, "\\n", 2);
			o += 2;
		}
		sprintf(j + o, "-----END CERTIFICATE REQUEST-----\\n\"}\n");
		it->cfssl = j;
	}
	free(a);
	free(d);
	EVP_PKEY_free(k);
}

static void *worker(void *arg)
{
	long t = (long)arg;
	/* One key generation context per thread: EVP_EC_gen fetches per call. */
	EVP_PKEY_CTX *kctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	EVP_MD_CTX *md = EVP_MD_CTX_new();

	if (!kctx || !md || EVP_PKEY_keygen_init(kctx) != 1 ||
	    EVP_PKEY_CTX_set_group_name(kctx, "P-256") != 1)
		die("key generation context");
	for (long i = t; i < nitems; i += 2)
		make_one(&items[i], kctx, md);
	EVP_PKEY_CTX_free(kctx);
	EVP_MD_CTX_free(md);
	return NULL;
}

int main(int argc, char **argv)
{
	FILE *in, *est, *cf = NULL;
	char line[1024];
	long cap = 0;
	pthread_t th[2];

	if (argc < 3 || argc > 4) {
		fprintf(stderr, "usage: serve_csrs TOKENS.csv EST_OUT [CFSSL_OUT]\n");
		return 2;
	}
	want_cfssl = argc == 4;
	if (!(in = fopen(argv[1], "r")))
		die("open tokens");
	while (fgets(line, sizeof(line), in)) {
		char *comma = strchr(line, ',');

		line[strcspn(line, "\r\n")] = '\0';
		if (!comma || strcmp(line, "id,token") == 0)
			continue;
		*comma = '\0';
		if (nitems == cap) {
			struct item *grown;

			cap = cap ? cap * 2 : 4096;
			if (!(grown = realloc(items, (size_t)cap * sizeof(*items))))
				die("realloc");
			items = grown;
		}
		memset(&items[nitems], 0, sizeof(*items));
		if (!(items[nitems].id = strdup(line)) ||
		    !(items[nitems].token = strdup(comma + 1)))
			die("strdup");
		nitems++;
	}
	fclose(in);
	for (long t = 0; t < 2; t++)
		if (pthread_create(&th[t], NULL, worker, (void *)t) != 0)
			die("pthread_create");
	for (int t = 0; t < 2; t++)
		pthread_join(th[t], NULL);
	if (!(est = fopen(argv[2], "w")) || (want_cfssl && !(cf = fopen(argv[3], "w"))))
		die("open output");
	for (long i = 0; i < nitems; i++) {
		fputs(items[i].est, est);
		if (cf)
			fputs(items[i].cfssl, cf);
	}
	if (fclose(est) != 0 || (cf && fclose(cf) != 0))
		die("write");
	fprintf(stderr, "serve_csrs: %ld CSRs\n", nitems);
	return 0;
}
