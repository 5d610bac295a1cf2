/*
 * /authz on the HTTPS listener: the decision endpoint for nginx auth_request
 * (and any relying party that can send headers). 200 allows, 403 denies;
 * the reason and the device's summary come back in X-Devtrust-* headers,
 * and as a JSON body with ?format=json. Only a backend may ask: the caller's own TLS client
 * certificate must pass the same verification for service devtrust-authz.
 */
#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "http/http.h"
#include "verify/verify.h"

dt_code http_authz_new(struct http_server *srv, struct dt_error *err)
{
	struct dt_verifier_opts o;

	memset(&o, 0, sizeof(o));
	o.actor = "serve:authz";
	return dt_verifier_new(srv->ctx, &o, &srv->verifier, err);
}

void http_authz_free(struct http_server *srv)
{
	dt_verifier_free(srv->verifier);
	srv->verifier = NULL;
}

static const char *method_name(enum evhttp_cmd_type cmd)
{
	return cmd == EVHTTP_REQ_POST ? "POST" : cmd == EVHTTP_REQ_HEAD ? "HEAD" : "GET";
}

/*
 * The caller is a backend: its TLS client certificate is a device
 * certificate of a class that policy allows service devtrust-authz. Network
 * position alone proves nothing (DECISIONS.md: who may call /authz).
 */
static int caller_allowed(struct http_req *r, struct dt_verify_result *res, struct dt_error *err,
			  dt_code *rc)
{
	struct evhttp_connection *con = evhttp_request_get_connection(r->req);
	struct bufferevent *bev = con ? evhttp_connection_get_bufferevent(con) : NULL;
	SSL *ssl = bev ? bufferevent_openssl_get_ssl(bev) : NULL;
	X509 *x = ssl ? SSL_get0_peer_certificate(ssl) : NULL;
	struct dt_verify_request req;
	unsigned char *der = NULL;
	char *addr = NULL;
	ev_uint16_t port = 0;
	int n;

	memset(&req, 0, sizeof(req));
	*rc = DT_OK;
	if (con)
		evhttp_connection_get_peer(con, &addr, &port);
	/* i2d of a decoded certificate copies its cached encoding. */
	if (x && (n = i2d_X509(x, &der)) > 0) {
		req.cert = der;
		req.cert_len = (size_t)n;
	}
	req.service = VERIFY_AUTHZ_SERVICE;
	req.method = method_name(evhttp_request_get_command(r->req));
	req.path = "/authz";
	req.peer = addr;
	*rc = dt_verify(r->w->srv->verifier, &req, res, err);
	OPENSSL_free(der);
	return *rc == DT_OK && res->allowed;
}

/* Bytes outside printable ASCII become '?': a detail may quote a path. */
static void ascii(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			*s = '?';
}

/*
 * The body only when asked (/authz?format=json): nginx reads no body of an
 * auth_request subrequest, and an unread body makes it close its keep-alive
 * connection to devtrust, a TLS handshake per request instead of per
 * connection (measured: 1 connection per request, 10x fewer decisions/s).
 */
static int wants_json(struct http_req *r)
{
	const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(r->req);
	const char *q = u ? evhttp_uri_get_query(u) : NULL;

	return q && strcmp(q, "format=json") == 0;
}

static void reply_decision(struct http_req *r, struct dt_verify_result *res)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(r->req);
	struct dt_verify_device *d = &res->device;
	const char *reason = dt_verify_reason_name(res->reason);
	json_t *body = NULL;
	char *text = NULL;

	evhttp_add_header(h, "X-Devtrust-Decision", res->allowed ? "allow" : "deny");
	evhttp_add_header(h, "X-Devtrust-Reason", reason);
	evhttp_add_header(h, "Cache-Control", "no-store");
	ascii(res->detail);
	if (wants_json(r))
		body = json_pack("{s:s,s:s,s:s}", "decision", res->allowed ? "allow" : "deny",
				 "reason", reason, "detail", res->detail);
	if (res->identified) {
		/* Identifiers only: names of devices, classes and CAs are validated. */
		evhttp_add_header(h, "X-Devtrust-Device", d->id);
		evhttp_add_header(h, "X-Devtrust-Class", d->class_name);
		evhttp_add_header(h, "X-Devtrust-Serial", d->serial);
		evhttp_add_header(h, "X-Devtrust-State", dt_state_name(d->state));
		evhttp_add_header(h, "X-Devtrust-Criticality", dt_criticality_name(d->criticality));
		snprintf(r->device, sizeof(r->device), "%s", d->id);
		ascii(d->manufacturer);
		ascii(d->model);
		ascii(d->location);
		if (body) /* ?format=json */
			json_object_set_new(
			    body, "device",
			    json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:I}", "id", d->id,
				      "class", d->class_name, "ca", d->ca, "serial", d->serial,
				      "state", dt_state_name(d->state), "criticality",
				      dt_criticality_name(d->criticality), "firmware", d->firmware,
				      "manufacturer", d->manufacturer, "model", d->model,
				      "location", d->location, "not_after",
				      (json_int_t)d->not_after));
	}
	snprintf(r->note, sizeof(r->note), "%s %s", res->allowed ? "allow" : "deny", reason);
	text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	http_reply(r, res->allowed ? 200 : 403, text ? "application/json" : NULL, text,
		   text ? strlen(text) : 0);
	free(text);
}

static const char *header(struct evkeyvalq *in, const char *name)
{
	return evhttp_find_header(in, name);
}

void http_authz(struct http_req *r)
{
	static const char refused[] = "caller refused: /authz answers backends whose client "
				      "certificate is allowed service devtrust-authz\n";
	struct evkeyvalq *in = evhttp_request_get_input_headers(r->req);
	struct evkeyvalq *out = evhttp_request_get_output_headers(r->req);
	struct verify_authz_headers hd = {header(in, VERIFY_H_CERT),   header(in, VERIFY_H_SERIAL),
					  header(in, VERIFY_H_KEYID),  header(in, VERIFY_H_SERVICE),
					  header(in, VERIFY_H_METHOD), header(in, VERIFY_H_URI),
					  header(in, VERIFY_H_ADDR)};
	struct dt_verify_request req;
	struct dt_verify_result res;
	struct dt_error err;
	char *buf = NULL;
	dt_code rc;

	r->route = R_AUTHZ;
	if (!caller_allowed(r, &res, &err, &rc)) {
		if (rc != DT_OK) {
			http_reply_dt_error(r, &err);
			return;
		}
		evhttp_add_header(out, "X-Devtrust-Decision", "deny");
		evhttp_add_header(out, "X-Devtrust-Reason", "caller-refused");
		evhttp_add_header(out, "X-Devtrust-Caller-Reason",
				  dt_verify_reason_name(res.reason));
		snprintf(r->note, sizeof(r->note), "caller refused: %s",
			 dt_verify_reason_name(res.reason));
		http_reply(r, 403, "text/plain; charset=utf-8", refused, sizeof(refused) - 1);
		return;
	}
	if (verify_authz_request(&hd, &req, &buf, &err) != DT_OK) {
		memset(&res, 0, sizeof(res));
		res.reason = DT_VR_BAD_CERTIFICATE;
		snprintf(res.detail, sizeof(res.detail), "%.200s", err.msg);
		reply_decision(r, &res);
		return;
	}
	rc = dt_verify(r->w->srv->verifier, &req, &res, &err);
	free(buf);
	if (rc != DT_OK) {
		/* Not a decision: nginx turns a 500 into an error, so it fails closed. */
		evhttp_add_header(out, "X-Devtrust-Reason", "internal-error");
		http_reply_dt_error(r, &err);
		return;
	}
	reply_decision(r, &res);
}

void http_authz_metrics(struct http_server *srv, struct evbuffer *out)
{
	struct dt_verifier_stats s;

	if (!srv->verifier)
		return;
	dt_verifier_stats(srv->verifier, &s);
	evbuffer_add_printf(out, "# HELP devtrust_authz_decisions_total Verification decisions "
				 "(/authz and its callers) by reason.\n"
				 "# TYPE devtrust_authz_decisions_total counter\n");
	for (int i = 0; i < DT_VR_COUNT; i++)
		evbuffer_add_printf(out, "devtrust_authz_decisions_total{reason=\"%s\"} %llu\n",
				    dt_verify_reason_name((enum dt_verify_reason)i),
				    (unsigned long long)s.by_reason[i]);
	evbuffer_add_printf(
	    out,
	    "# TYPE devtrust_authz_cache_hits_total counter\n"
	    "devtrust_authz_cache_hits_total %llu\n"
	    "# TYPE devtrust_authz_store_reads_total counter\n"
	    "devtrust_authz_store_reads_total %llu\n"
	    "# TYPE devtrust_authz_chain_checks_total counter\n"
	    "devtrust_authz_chain_checks_total %llu\n"
	    "# TYPE devtrust_authz_changes_total counter\n"
	    "devtrust_authz_changes_total %llu\n"
	    "# TYPE devtrust_last_seen_written_total counter\n"
	    "devtrust_last_seen_written_total %llu\n"
	    "# HELP devtrust_last_seen_dropped_total Last-seen updates lost: batch full or "
	    "write failed.\n"
	    "# TYPE devtrust_last_seen_dropped_total counter\n"
	    "devtrust_last_seen_dropped_total %llu\n"
	    "# TYPE devtrust_clone_findings_total counter\n"
	    "devtrust_clone_findings_total %llu\n",
	    (unsigned long long)s.cache_hits, (unsigned long long)s.store_reads,
	    (unsigned long long)s.chain_checks, (unsigned long long)s.changes,
	    (unsigned long long)s.seen_written, (unsigned long long)s.seen_dropped,
	    (unsigned long long)s.clone_findings);
}
