/*
 * One EST session over libcurl: GET and POST to
 * <server>/.well-known/est[/<label>]/<op> (RFC 7030 section 3.2.2), HTTPS
 * only, no redirects, bounded bodies and times. An HTTP error status is a
 * reply like any other here; ag_http_refusal says what it means.
 */
#include <ctype.h>
#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "agent/agent.h"

struct ag_http {
	CURL *curl;
	const struct ag_config *cfg;
	struct ag_tls *tls;
	struct ag_response *cur; /* the reply being received */
	int too_big;
	char errbuf[CURL_ERROR_SIZE];
};

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
	struct ag_http *h = arg;
	struct ag_response *r = h->cur;
	size_t len = size * n;
	unsigned char *b;

	if (len > AG_MAX_BODY - r->len) {
		h->too_big = 1;
		return 0; /* libcurl stops with CURLE_WRITE_ERROR */
	}
	if (!(b = realloc(r->body, r->len + len + 1)))
		return 0;
	memcpy(b + r->len, data, len);
	r->body = b;
	r->len += len;
	r->body[r->len] = '\0';
	return len;
}

/* Retry-After as delay-seconds (RFC 9110 section 10.2.3); an HTTP-date is ignored. */
static size_t on_header(char *data, size_t size, size_t n, void *arg)
{
	struct ag_http *h = arg;
	size_t len = size * n;
	static const char name[] = "retry-after:";
	long v = 0;
	size_t i = sizeof(name) - 1;

	if (len <= i || strncasecmp(data, name, i) != 0)
		return len;
	while (i < len && (data[i] == ' ' || data[i] == '\t'))
		i++;
	for (; i < len && isdigit((unsigned char)data[i]) && v < 86400; i++)
		v = v * 10 + (data[i] - '0');
	h->cur->retry_after = v;
	return len;
}

/* SIGTERM or SIGINT pending (the daemon blocks them): abandon the transfer. */
static int on_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	sigset_t pending;

	(void)arg;
	(void)dt;
	(void)dn;
	(void)ut;
	(void)un;
	if (sigpending(&pending) != 0)
		return 0;
	return sigismember(&pending, SIGTERM) == 1 || sigismember(&pending, SIGINT) == 1;
}

static CURLcode on_ssl_ctx(CURL *curl, void *ssl_ctx, void *arg)
{
	(void)curl;
	return ag_tls_apply(ssl_ctx, arg) ? CURLE_OK : CURLE_SSL_CERTPROBLEM;
}

#define SET(opt, val)                                                                              \
	do {                                                                                       \
		if ((cc = curl_easy_setopt(h->curl, opt, val)) != CURLE_OK)                        \
			goto fail;                                                                 \
	} while (0)

enum ag_code ag_http_open(const struct ag_config *c, struct ag_tls *tls, struct ag_http **out,
			  struct ag_error *e)
{
	struct ag_http *h = calloc(1, sizeof(*h));
	long verify = tls->trust ? 1L : 0L;
	CURLcode cc = CURLE_OUT_OF_MEMORY;

	*out = NULL;
	if (!h || !(h->curl = curl_easy_init()))
		goto fail;
	h->cfg = c;
	h->tls = tls;
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_PROTOCOLS_STR, "https");
	SET(CURLOPT_REDIR_PROTOCOLS_STR, "https");
	SET(CURLOPT_FOLLOWLOCATION, 0L);
	SET(CURLOPT_CONNECTTIMEOUT, c->timeout_s < 10 ? c->timeout_s : 10L);
	SET(CURLOPT_TIMEOUT, c->timeout_s);
	SET(CURLOPT_USERAGENT, "devtrust-agent/" AG_VERSION);
	SET(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	/* EST is defined over HTTP/1.1 (RFC 7030 section 3.2); no HTTP/2 session. */
	SET(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	/* Only our anchor: the system's CA bundle is neither loaded nor trusted. */
	SET(CURLOPT_CAINFO, NULL);
	SET(CURLOPT_CAPATH, NULL);
	SET(CURLOPT_SSL_VERIFYPEER, verify);
	SET(CURLOPT_SSL_VERIFYHOST, verify ? 2L : 0L);
	/* A provisional (unverified) connection is never reused for anything else. */
	SET(CURLOPT_FORBID_REUSE, verify ? 0L : 1L);
	SET(CURLOPT_SSL_CTX_FUNCTION, on_ssl_ctx);
	SET(CURLOPT_SSL_CTX_DATA, tls);
	SET(CURLOPT_WRITEFUNCTION, on_body);
	SET(CURLOPT_WRITEDATA, h);
	SET(CURLOPT_HEADERFUNCTION, on_header);
	SET(CURLOPT_HEADERDATA, h);
	SET(CURLOPT_NOPROGRESS, 0L);
	SET(CURLOPT_XFERINFOFUNCTION, on_progress);
	SET(CURLOPT_ERRORBUFFER, h->errbuf);
	*out = h;
	return AG_OK;
fail:
	ag_http_close(h);
	return ag_fail(e, AG_E_LOCAL,
		       "cannot set up libcurl: %s (libcurl 7.85 or later, built "
		       "with OpenSSL, is needed)",
		       curl_easy_strerror(cc));
}

void ag_http_close(struct ag_http *h)
{
	if (!h)
		return;
	if (h->curl)
		curl_easy_cleanup(h->curl);
	free(h);
}

void ag_response_free(struct ag_response *r)
{
	free(r->body);
	memset(r, 0, sizeof(*r));
	r->retry_after = -1;
}

static enum ag_code transfer_error(struct ag_http *h, CURLcode cc, const char *url,
				   struct ag_error *e)
{
	const char *why = h->errbuf[0] ? h->errbuf : curl_easy_strerror(cc);

	switch (cc) {
	case CURLE_ABORTED_BY_CALLBACK:
		return ag_fail(e, AG_E_STOPPED, "stopped by a signal during %s", url);
	case CURLE_WRITE_ERROR:
		if (h->too_big)
			return ag_fail(e, AG_E_REFUSED, "%s: reply is larger than %d bytes", url,
				       AG_MAX_BODY);
		return ag_fail(e, AG_E_LOCAL, "%s: out of memory", url);
	case CURLE_PEER_FAILED_VERIFICATION:
		return ag_fail(e, AG_E_TRUST,
			       "%s: the server's TLS certificate does not verify against the "
			       "trust anchor (%s)",
			       url, why);
	case CURLE_SSL_CERTPROBLEM:
		return ag_fail(e, AG_E_LOCAL,
			       "%s: our TLS client certificate or key cannot be used (%s)", url,
			       why);
	default:
		return ag_fail(e, AG_E_TEMP, "cannot reach %s: %s", url, why);
	}
}

static enum ag_code perform(struct ag_http *h, const char *op, struct ag_response *r,
			    struct ag_error *e)
{
	char url[AG_MAX_URL + AG_MAX_ID + 64];
	char *ct = NULL;
	CURLcode cc;
	int n;

	memset(r, 0, sizeof(*r));
	r->retry_after = -1;
	if (h->cfg->label[0])
		n = snprintf(url, sizeof(url), "%s/.well-known/est/%s/%s", h->cfg->server,
			     h->cfg->label, op);
	else
		n = snprintf(url, sizeof(url), "%s/.well-known/est/%s", h->cfg->server, op);
	if (n < 0 || (size_t)n >= sizeof(url))
		return ag_fail(e, AG_E_CONFIG, "server URL and label are too long");
	h->cur = r;
	h->too_big = 0;
	h->errbuf[0] = '\0';
	if ((cc = curl_easy_setopt(h->curl, CURLOPT_URL, url)) != CURLE_OK ||
	    (cc = curl_easy_perform(h->curl)) != CURLE_OK) {
		h->cur = NULL;
		ag_response_free(r);
		return transfer_error(h, cc, url, e);
	}
	h->cur = NULL;
	if (curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &r->status) != CURLE_OK ||
	    curl_easy_getinfo(h->curl, CURLINFO_CONTENT_TYPE, &ct) != CURLE_OK) {
		ag_response_free(r);
		return ag_fail(e, AG_E_LOCAL, "libcurl did not report the status of %s", url);
	}
	snprintf(r->content_type, sizeof(r->content_type), "%s", ct ? ct : "");
	return AG_OK;
}

enum ag_code ag_http_get(struct ag_http *h, const char *op, struct ag_response *r,
			 struct ag_error *e)
{
	CURLcode cc;

	if ((cc = curl_easy_setopt(h->curl, CURLOPT_HTTPGET, 1L)) != CURLE_OK ||
	    (cc = curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, NULL)) != CURLE_OK)
		return ag_fail(e, AG_E_LOCAL, "libcurl: %s", curl_easy_strerror(cc));
	return perform(h, op, r, e);
}

enum ag_code ag_http_post(struct ag_http *h, const char *op, const char *body, size_t len,
			  const char *user, const char *secret, struct ag_response *r,
			  struct ag_error *e)
{
	struct curl_slist *hdr = NULL, *more;
	CURLcode cc = CURLE_OUT_OF_MEMORY;
	enum ag_code rc;

	memset(r, 0, sizeof(*r));
	if (!(hdr = curl_slist_append(NULL, "Content-Type: application/pkcs10")) ||
	    !(more = curl_slist_append(hdr, "Content-Transfer-Encoding: base64")))
		goto fail;
	hdr = more;
	if ((cc = curl_easy_setopt(h->curl, CURLOPT_POSTFIELDS, body)) != CURLE_OK ||
	    (cc = curl_easy_setopt(h->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len)) !=
		CURLE_OK ||
	    (cc = curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, hdr)) != CURLE_OK)
		goto fail;
	if (user &&
	    ((cc = curl_easy_setopt(h->curl, CURLOPT_HTTPAUTH, CURLAUTH_BASIC)) != CURLE_OK ||
	     (cc = curl_easy_setopt(h->curl, CURLOPT_USERNAME, user)) != CURLE_OK ||
	     (cc = curl_easy_setopt(h->curl, CURLOPT_PASSWORD, secret)) != CURLE_OK))
		goto fail;
	rc = perform(h, op, r, e);
	/* libcurl frees its copy of the secret; it must not go out again. */
	if (user && (curl_easy_setopt(h->curl, CURLOPT_USERNAME, NULL) != CURLE_OK ||
		     curl_easy_setopt(h->curl, CURLOPT_PASSWORD, NULL) != CURLE_OK))
		rc = ag_fail(e, AG_E_LOCAL, "libcurl: cannot forget the credentials");
	if (curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, NULL) != CURLE_OK && rc == AG_OK)
		rc = ag_fail(e, AG_E_LOCAL, "libcurl: cannot reset the headers");
	curl_slist_free_all(hdr);
	return rc;
fail:
	curl_slist_free_all(hdr);
	return ag_fail(e, AG_E_LOCAL, "libcurl: %s", curl_easy_strerror(cc));
}

/* The server's text, for last_error: first line, printable ASCII, bounded. */
static void server_text(const struct ag_response *r, char *out, size_t cap)
{
	const char *s = r->body ? (const char *)r->body : "";
	size_t n = 0, len = r->body ? r->len : 0;

	if (len >= 7 && strncmp(s, "error: ", 7) == 0)
		s += 7, len -= 7;
	for (size_t i = 0; i < len && n + 1 < cap && n < AG_MAX_SERVER_MSG; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch == '\n' || ch == '\r')
			break;
		out[n++] = (ch >= 0x20 && ch < 0x7f) ? (char)ch : '?';
	}
	out[n] = '\0';
}

enum ag_code ag_http_refusal(const struct ag_response *r, const char *what, struct ag_error *e)
{
	char text[AG_MAX_SERVER_MSG + 1];
	enum ag_code code;

	server_text(r, text, sizeof(text));
	switch (r->status) {
	case 401:
		code = AG_E_AUTH;
		break;
	case 403:
		/* devtrust says "device 'X' is retired: ..." (src/est/current.c). */
		if (strstr(text, "' is retired") || strstr(text, "' is compromised"))
			code = AG_E_RETIRED;
		else if (strstr(text, "' is suspended"))
			code = AG_E_SUSPENDED;
		else
			code = AG_E_REFUSED;
		break;
	case 404:
		code = AG_E_CONFIG;
		break;
	case 400:
	case 405:
	case 409:
	case 413:
	case 415:
		code = AG_E_REFUSED;
		break;
	default: /* 202 (try later, RFC 7030 section 4.2.3), 429, 5xx */
		code = AG_E_TEMP;
	}
	ag_fail(e, code, "%s: the server answered %ld%s%s", what, r->status, text[0] ? ": " : "",
		text);
	if (e) {
		e->http_status = r->status;
		e->retry_after = r->retry_after > 0 ? r->retry_after : 0;
	}
	return code;
}
