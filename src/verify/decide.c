/*
 * One decision: identify the certificate (stored, byte for byte, under the
 * serial it carries), check its chain up to the issuing CA its device's class
 * is bound to, its validity, its revocation, the device's state and
 * firmware, clone findings, and the class's policies for the service and
 * route. What the store says about a certificate is kept in memory under the
 * SHA-256 of its DER until the audit log shows a change (verifier.c); the
 * chain check is kept for good, as a fact about those bytes and that CA.
 */
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "ca/ca.h"
#include "audit/audit.h"
#include "verify/verify.h"

struct vcert {
	unsigned char key[32];
	unsigned long gen; /* generation the store was read in */
	/* What the certificate says (parsed once). */
	int parsed;
	char serial[DT_SERIAL_HEX_BUF];
	char claimed[DT_ID_BUF]; /* the device id it names */
	/* What the store says, valid while gen is current. */
	enum dt_verify_reason fixed; /* a deny decided by identification, else ALLOWED */
	char fixed_detail[200];
	int identified;
	struct dt_verify_device dev;
	enum dt_cert_status status;
	int cert_reason;
	int64_t not_before;
	char cert_ca[DT_ID_BUF];
	int ca_revoked;
	char min_firmware[DT_ID_BUF];
	int64_t clone_open;
	int64_t clone_window_s;
	int clone_action;
	/* The chain check: a fact about these bytes and that CA certificate. */
	char chain_fp[DT_SHA256_HEX_BUF];
	enum dt_verify_reason chain_reason;
	char chain_detail[256];
	/* Clone detection. */
	char last_addr[DT_PEER_BUF];
	int64_t last_addr_at;
	struct vcert *next;
};

/* What the relying party passed, decoded. */
struct input {
	const unsigned char *der; /* NULL: identified by serial and issuer key id */
	size_t len;
	char serial[DT_SERIAL_HEX_BUF];
	char keyid[DT_SHA256_HEX_BUF * 2];
	X509 *x; /* parsed on demand */
	int bad;
};

static size_t bucket_of(const unsigned char key[32])
{
	return ((size_t)key[0] << 8 | key[1]) % VERIFY_BUCKETS;
}

static struct vcert *find_locked(struct dt_verifier *v, size_t b, const unsigned char key[32])
{
	for (struct vcert *e = v->buckets[b]; e; e = e->next)
		if (memcmp(e->key, key, 32) == 0)
			return e;
	return NULL;
}

void verify_cache_clear(struct dt_verifier *v)
{
	for (int i = 0; i < VERIFY_LOCKS; i++)
		pthread_mutex_lock(&v->locks[i]);
	for (size_t b = 0; b < VERIFY_BUCKETS; b++) {
		struct vcert *e = v->buckets[b], *next;
		for (; e; e = next) {
			next = e->next;
			free(e);
		}
		v->buckets[b] = NULL;
	}
	atomic_store(&v->ncerts, 0);
	for (int i = VERIFY_LOCKS - 1; i >= 0; i--)
		pthread_mutex_unlock(&v->locks[i]);
}

static X509 *input_x509(struct input *in)
{
	if (!in->x && !in->bad && in->der) {
		if (!(in->x = ca_der_cert(in->der, in->len)))
			in->bad = 1;
		ERR_clear_error();
	}
	return in->x;
}

static void set_fixed(struct vcert *c, enum dt_verify_reason r, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_fixed(struct vcert *c, enum dt_verify_reason r, const char *fmt, ...)
{
	va_list ap;

	c->fixed = r;
	va_start(ap, fmt);
	vsnprintf(c->fixed_detail, sizeof(c->fixed_detail), fmt, ap);
	va_end(ap);
}

/* The serial and the device id the certificate names. */
static void parse_names(struct dt_verifier *v, struct input *in, struct vcert *c)
{
	X509 *x = input_x509(in);
	BIGNUM *bn = x ? ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL) : NULL;
	char *hex = bn && !BN_is_negative(bn) ? BN_bn2hex(bn) : NULL;
	struct dt_error ignored;

	c->parsed = 1;
	if (!x) {
		set_fixed(c, DT_VR_BAD_CERTIFICATE,
			  "not an X.509 certificate (RFC 5280 section 4.1): it does not decode");
	} else if (!hex || dt_serial_normalize(hex, c->serial, &ignored) != DT_OK) {
		/* Negative or over 20 octets: a serial this CA never draws. */
		c->serial[0] = '\0';
	}
	if (x)
		(void)verify_claimed_device(x, dt_org(v->ctx), c->claimed);
	OPENSSL_free(hex);
	BN_free(bn);
}

struct lookup {
	const char *serial;
	const struct input *in;
	const char *claimed;
	struct store_verify_row row;
	int found; /* the serial is stored and (with DER input) the bytes match */
	int serial_taken;
	int claimed_found;
	struct dt_device cdev;
	struct dt_class ccls;
	struct store_ca *cca; /* the claimed device's class CA */
};

static dt_code lookup_job(struct store_txn *txn, void *arg, struct dt_error *err)
{
	struct lookup *l = arg;
	dt_code rc = DT_ERR_NOT_FOUND;

	if (l->serial[0])
		rc = txn->ops->verify_lookup(txn, l->serial, &l->row, err);
	if (rc == DT_OK) {
		l->found = !l->in->der || (l->row.der_len == l->in->len &&
					   memcmp(l->row.der, l->in->der, l->in->len) == 0);
		l->serial_taken = !l->found;
	} else if (rc != DT_ERR_NOT_FOUND) {
		return rc;
	}
	if (l->found || !l->claimed[0])
		return DT_OK;
	/* An unknown certificate naming one of our devices: whose CA should it be? */
	if ((rc = txn->ops->device_get(txn, l->claimed, &l->cdev, NULL, err)) == DT_ERR_NOT_FOUND)
		return DT_OK;
	if (rc != DT_OK ||
	    (rc = txn->ops->class_get(txn, l->cdev.class_name, &l->ccls, err)) != DT_OK)
		return rc;
	if (!(l->cca = malloc(sizeof(*l->cca))))
		return dt_fail(err, DT_ERR_INTERNAL, "out of memory");
	if ((rc = txn->ops->ca_get(txn, l->ccls.ca, l->cca, err)) != DT_OK)
		return rc;
	l->claimed_found = 1;
	return DT_OK;
}

/* Copies what fits; callers size dst for what the store allows. */
static void copy_text(char *dst, size_t cap, const char *src)
{
	size_t n = strnlen(src, cap - 1);

	memcpy(dst, src, n);
	dst[n] = '\0';
}

/* Verifies the leaf against the class's issuing CA as trust anchor: that CA
 * is ours (from the store), so its own chain to the root was checked when it
 * was made; time is checked by the caller against the stored validity. */
static void check_chain(struct dt_verifier *v, struct input *in, const struct store_verify_row *row,
			struct vcert *c)
{
	const struct vca *ca = NULL;
	X509_STORE *st = NULL;
	X509_STORE_CTX *vc = NULL;
	struct dt_error err;
	X509 *x;

	c->chain_reason = DT_VR_BAD_CHAIN;
	c->chain_fp[0] = '\0';
	atomic_fetch_add(&v->st.chain_checks, 1);
	if (verify_ca_get(v, row->ca_fingerprint, row->ca_cert, row->ca_cert_len, &ca, &err) !=
	    DT_OK) {
		copy_text(c->chain_detail, sizeof(c->chain_detail), err.msg);
		return;
	}
	if (!in->der) {
		/* By serial: the relying party verified the signature; the issuer's key
		 * id it saw must be the class CA's (RFC 5280 section 4.2.1.1). */
		if (ca->ski[0] && strcmp(ca->ski, in->keyid) == 0) {
			c->chain_reason = DT_VR_ALLOWED;
			copy_text(c->chain_fp, sizeof(c->chain_fp), row->ca_fingerprint);
		} else {
			c->chain_reason = DT_VR_WRONG_CA;
			snprintf(c->chain_detail, sizeof(c->chain_detail),
				 "issuer key id %.40s is not CA '%.64s' of class '%.64s'",
				 in->keyid, row->class_ca, row->dev.class_name);
		}
		return;
	}
	if (!(x = input_x509(in))) {
		c->chain_reason = DT_VR_BAD_CERTIFICATE;
		copy_text(c->chain_detail, sizeof(c->chain_detail), "certificate does not decode");
		return;
	}
	if (!(st = X509_STORE_new()) || !(vc = X509_STORE_CTX_new()) ||
	    X509_STORE_add_cert(st, ca->x) != 1 || X509_STORE_CTX_init(vc, st, x, NULL) != 1) {
		copy_text(c->chain_detail, sizeof(c->chain_detail), "out of memory");
		goto out;
	}
	X509_VERIFY_PARAM_set_flags(X509_STORE_CTX_get0_param(vc), X509_V_FLAG_PARTIAL_CHAIN |
								       X509_V_FLAG_NO_CHECK_TIME |
								       X509_V_FLAG_X509_STRICT);
	X509_VERIFY_PARAM_set_depth(X509_STORE_CTX_get0_param(vc), 1);
	/* The device is the TLS client of the backend: clientAuth (RFC 5280 4.2.1.12). */
	X509_STORE_CTX_set_purpose(vc, X509_PURPOSE_SSL_CLIENT);
	if (X509_verify_cert(vc) == 1) {
		c->chain_reason = DT_VR_ALLOWED;
		copy_text(c->chain_fp, sizeof(c->chain_fp), row->ca_fingerprint);
	} else {
		snprintf(c->chain_detail, sizeof(c->chain_detail),
			 "does not verify up to CA '%s': %s", row->class_ca,
			 X509_verify_cert_error_string(X509_STORE_CTX_get_error(vc)));
	}
out:
	X509_STORE_CTX_free(vc);
	X509_STORE_free(st);
	ERR_clear_error();
}

/* An unknown certificate naming a device of ours: signed by that device's
 * class CA (then the CA signed something this devtrust never recorded) or
 * by another CA (a certificate of another issuer for this class). */
static void judge_claim(struct input *in, struct lookup *l, struct vcert *c)
{
	X509 *ca = ca_der_cert(l->cca->cert, l->cca->cert_len);
	X509 *x = input_x509(in);
	char issuer[128] = "";

	if (x)
		X509_NAME_oneline(X509_get_issuer_name(x), issuer, sizeof(issuer));
	if (!ca || !x || X509_check_issued(ca, x) != X509_V_OK)
		set_fixed(c, DT_VR_WRONG_CA,
			  "names device '%s' of class '%s', which accepts only CA '%s'; issued by "
			  "'%.80s'",
			  l->claimed, l->ccls.name, l->ccls.ca, issuer);
	else if (X509_verify(x, X509_get0_pubkey(ca)) == 1)
		set_fixed(c, DT_VR_UNKNOWN_CERTIFICATE,
			  "names device '%s' and is signed by its class's CA '%s', but this "
			  "devtrust never issued it: check that CA's key",
			  l->claimed, l->ccls.ca);
	else
		set_fixed(c, DT_VR_UNKNOWN_CERTIFICATE,
			  "names device '%s' and CA '%s' as issuer, but that CA's signature does "
			  "not verify: forged or altered",
			  l->claimed, l->ccls.ca);
	X509_free(ca);
	ERR_clear_error();
}

/* The first DT_SUMMARY_TEXT_BUF - 1 bytes, cut on a UTF-8 boundary. */
static void copy_summary(char dst[DT_SUMMARY_TEXT_BUF], const char *src)
{
	size_t n = strlen(src);

	if (n > DT_SUMMARY_TEXT_BUF - 1) {
		n = DT_SUMMARY_TEXT_BUF - 1;
		while (n > 0 && ((unsigned char)src[n] & 0xc0) == 0x80)
			n--;
	}
	memcpy(dst, src, n);
	dst[n] = '\0';
}

static void fill_device(struct vcert *c, const struct store_verify_row *r)
{
	struct dt_verify_device *d = &c->dev;

	memset(d, 0, sizeof(*d));
	copy_text(d->id, sizeof(d->id), r->dev.id);
	copy_text(d->class_name, sizeof(d->class_name), r->dev.class_name);
	copy_text(d->ca, sizeof(d->ca), r->class_ca);
	copy_text(d->serial, sizeof(d->serial), r->cert.serial);
	d->state = r->dev.state;
	d->criticality = r->dev.criticality;
	copy_text(d->firmware, sizeof(d->firmware), r->dev.firmware);
	copy_summary(d->manufacturer, r->dev.manufacturer);
	copy_summary(d->model, r->dev.model);
	copy_summary(d->location, r->dev.location);
	d->not_after = r->cert.not_after;
	c->status = r->cert.status;
	c->cert_reason = r->cert.reason;
	c->not_before = r->cert.not_before;
	copy_text(c->cert_ca, sizeof(c->cert_ca), r->cert.ca);
	c->ca_revoked = r->ca_revoked;
	copy_text(c->min_firmware, sizeof(c->min_firmware), r->min_firmware);
	c->clone_open = r->clone_open;
	c->clone_window_s = r->clone_window_s;
	c->clone_action = r->clone_action;
}

/* Reads what the store says about the certificate into c (prev: what was in
 * memory, whose parsed names and chain check stay valid). */
static dt_code load_state(struct dt_verifier *v, struct input *in, const struct vcert *prev,
			  struct vcert *c, struct dt_error *err)
{
	struct lookup l;
	dt_code rc;
	int reuse = prev && v->opts.cache != DT_VERIFY_CACHE_NONE;

	memset(c, 0, sizeof(*c));
	if (reuse && prev->parsed) {
		c->parsed = 1;
		memcpy(c->serial, prev->serial, sizeof(c->serial));
		memcpy(c->claimed, prev->claimed, sizeof(c->claimed));
		if (prev->fixed == DT_VR_BAD_CERTIFICATE) {
			c->fixed = prev->fixed;
			memcpy(c->fixed_detail, prev->fixed_detail, sizeof(c->fixed_detail));
		}
	} else if (in->der) {
		parse_names(v, in, c);
	} else {
		c->parsed = 1;
		memcpy(c->serial, in->serial, sizeof(c->serial));
	}
	if (c->fixed == DT_VR_BAD_CERTIFICATE)
		return DT_OK;
	memset(&l, 0, sizeof(l));
	l.serial = c->serial;
	l.in = in;
	l.claimed = c->claimed;
	atomic_fetch_add(&v->st.store_reads, 1);
	rc = store_read(v->ctx->store, lookup_job, &l, err);
	if (rc != DT_OK)
		goto out;
	if (!l.found) {
		if (l.claimed_found && in->der)
			judge_claim(in, &l, c);
		else if (l.serial_taken)
			set_fixed(
			    c, DT_VR_UNKNOWN_CERTIFICATE,
			    "serial %s belongs to another certificate: this one was not issued "
			    "here",
			    c->serial);
		else
			set_fixed(c, DT_VR_UNKNOWN_CERTIFICATE,
				  "certificate%s%s was not issued by this devtrust",
				  c->serial[0] ? " " : "", c->serial);
		goto out;
	}
	c->identified = 1;
	fill_device(c, &l.row);
	if (strcmp(l.row.cert.ca, l.row.class_ca) != 0)
		goto out; /* wrong-ca, decided by judge() */
	if (reuse && prev->chain_fp[0] && strcmp(prev->chain_fp, l.row.ca_fingerprint) == 0 &&
	    prev->chain_reason == DT_VR_ALLOWED) {
		memcpy(c->chain_fp, prev->chain_fp, sizeof(c->chain_fp));
		c->chain_reason = DT_VR_ALLOWED;
	} else {
		check_chain(v, in, &l.row, c);
	}
out:
	free(l.row.der);
	free(l.cca);
	return rc;
}

static void deny(struct dt_verify_result *out, enum dt_verify_reason r, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void deny(struct dt_verify_result *out, enum dt_verify_reason r, const char *fmt, ...)
{
	va_list ap;

	out->allowed = 0;
	out->reason = r;
	va_start(ap, fmt);
	vsnprintf(out->detail, sizeof(out->detail), fmt, ap);
	va_end(ap);
}

/* The decision from what is known about the certificate, in the order an
 * operator fixes things: identity, chain, validity, state, posture, role. */
static void judge(struct dt_verifier *v, const struct vcert *c, const char *service,
		  const struct verify_route *route, int64_t now, struct dt_verify_result *out)
{
	const struct dt_verify_device *d = &c->dev;
	char m[64];

	out->identified = c->identified;
	if (c->identified)
		out->device = *d;
	if (c->fixed != DT_VR_ALLOWED) {
		deny(out, c->fixed, "%s", c->fixed_detail);
		return;
	}
	if (!c->identified) {
		deny(out, DT_VR_UNKNOWN_CERTIFICATE, "certificate is unknown");
		return;
	}
	if (strcmp(c->cert_ca, d->ca) != 0) {
		deny(out, DT_VR_WRONG_CA,
		     "certificate is from CA '%s'; class '%s' accepts only CA '%s'", c->cert_ca,
		     d->class_name, d->ca);
		return;
	}
	if (c->ca_revoked) {
		deny(out, DT_VR_CA_REVOKED, "issuing CA '%s' is revoked", d->ca);
		return;
	}
	if (c->chain_reason != DT_VR_ALLOWED) {
		deny(out, c->chain_reason, "%s", c->chain_detail);
		return;
	}
	if (now < c->not_before) {
		deny(out, DT_VR_NOT_YET_VALID, "certificate %s is not valid yet", d->serial);
		return;
	}
	if (now >= d->not_after) {
		deny(out, DT_VR_EXPIRED, "certificate %s has expired", d->serial);
		return;
	}
	switch (d->state) {
	case DT_STATE_ACTIVE:
		break;
	case DT_STATE_SUSPENDED:
		deny(out, DT_VR_DEVICE_SUSPENDED, "device '%s' is suspended", d->id);
		return;
	case DT_STATE_RETIRED:
		deny(out, DT_VR_DEVICE_RETIRED, "device '%s' is retired", d->id);
		return;
	case DT_STATE_COMPROMISED:
		deny(out, DT_VR_DEVICE_COMPROMISED, "device '%s' is compromised", d->id);
		return;
	default:
		deny(out, DT_VR_DEVICE_NOT_ACTIVE, "device '%s' is %s", d->id,
		     dt_state_name(d->state));
		return;
	}
	if (c->status == DT_CERT_REVOKED) {
		deny(out, DT_VR_CERT_REVOKED, "certificate %s is revoked (%s)", d->serial,
		     dt_reason_name(c->cert_reason));
		return;
	}
	if (c->status != DT_CERT_VALID) {
		deny(out, DT_VR_CERT_ON_HOLD, "certificate %s is on hold", d->serial);
		return;
	}
	if (c->min_firmware[0] && !d->firmware[0]) {
		deny(out, DT_VR_FIRMWARE_UNKNOWN,
		     "class '%s' requires firmware %s; device '%s' has none recorded",
		     d->class_name, c->min_firmware, d->id);
		return;
	}
	if (c->min_firmware[0] && verify_firmware_cmp(d->firmware, c->min_firmware) < 0) {
		deny(out, DT_VR_FIRMWARE_OUTDATED,
		     "device '%s' runs firmware %s; class '%s' requires %s or later", d->id,
		     d->firmware, d->class_name, c->min_firmware);
		return;
	}
	if (c->clone_open && c->clone_action != DT_CLONE_REPORT) {
		deny(out, DT_VR_CLONE_SUSPECTED,
		     "device '%s' has an open clone finding (devtrust report clones)", d->id);
		return;
	}
	if (!verify_policy_allows(v, d->class_name, service, route)) {
		dt_methods_format(route->has_method ? route->method : 0, m, sizeof(m));
		deny(out, DT_VR_NOT_ALLOWED,
		     "no policy lets class '%s' use service '%s'%s%.200s%s%s", d->class_name,
		     service, route->has_path ? " on " : "", route->has_path ? route->path : "",
		     route->has_method ? " with " : "",
		     route->has_method ? (route->method == DT_M_OTHER ? "that method" : m) : "");
		return;
	}
	out->allowed = 1;
	out->reason = DT_VR_ALLOWED;
	snprintf(out->detail, sizeof(out->detail), "device '%s' of class '%s' may use '%s'", d->id,
		 d->class_name, service);
}

struct clone_job {
	struct dt_clone_finding f;
	const char *actor;
};

static dt_code clone_job(struct store_txn *txn, void *arg, struct dt_error *err)
{
	struct clone_job *j = arg;
	char details[400];
	dt_code rc;

	if ((rc = txn->ops->clone_insert(txn, &j->f, err)) != DT_OK)
		return rc;
	/* Addresses passed verify_peer_check: no quote or backslash. */
	snprintf(details, sizeof(details),
		 "{\"before\":null,\"after\":{\"serial\":\"%s\",\"first_addr\":\"%s\","
		 "\"second_addr\":\"%s\",\"window_s\":%lld,\"action\":\"%s\"}}",
		 j->f.serial, j->f.first_addr, j->f.second_addr, (long long)j->f.window_s,
		 dt_clone_action_name(j->f.action));
	return audit_append(txn, j->actor, "device.clone_suspected", j->f.device_id, "", details,
			    err);
}

/* The same certificate from a second address within the class's window. */
static void check_clone(struct dt_verifier *v, const unsigned char key[32], const struct vcert *c,
			const char *peer, int64_t now, struct dt_verify_result *out)
{
	size_t b = bucket_of(key);
	pthread_mutex_t *lock = &v->locks[b % VERIFY_LOCKS];
	struct clone_job j;
	struct vcert *e;
	struct dt_error err;
	const char *failed = NULL;
	int found = 0;

	memset(&j, 0, sizeof(j));
	pthread_mutex_lock(lock);
	if ((e = find_locked(v, b, key))) {
		if (e->last_addr[0] && strcmp(e->last_addr, peer) != 0 && !e->clone_open &&
		    now - e->last_addr_at <= c->clone_window_s) {
			found = 1;
			copy_text(j.f.first_addr, sizeof(j.f.first_addr), e->last_addr);
			j.f.first_seen = e->last_addr_at;
			/* Until the store says otherwise, this device is flagged. */
			e->clone_open = 1;
		}
		copy_text(e->last_addr, sizeof(e->last_addr), peer);
		e->last_addr_at = now;
	}
	pthread_mutex_unlock(lock);
	if (!found)
		return;
	atomic_fetch_add(&v->st.clone_findings, 1);
	copy_text(j.f.device_id, sizeof(j.f.device_id), c->dev.id);
	copy_text(j.f.serial, sizeof(j.f.serial), c->dev.serial);
	copy_text(j.f.second_addr, sizeof(j.f.second_addr), peer);
	j.f.second_seen = now;
	j.f.window_s = c->clone_window_s;
	j.f.action = (enum dt_clone_action)c->clone_action;
	j.actor = v->actor;
	/* A store failure does not change the decision below; it is said in the
	 * detail, and the next presentation from a third address tries again. */
	if (store_write(v->ctx->store, clone_job, &j, &err) != DT_OK)
		failed = "the finding was not recorded";
	else if (j.f.action == DT_CLONE_SUSPEND && c->dev.state == DT_STATE_ACTIVE) {
		char why[256];
		snprintf(why, sizeof(why), "clone suspected: certificate %s seen from %s and %s",
			 j.f.serial, j.f.first_addr, j.f.second_addr);
		if (dt_device_transition(v->ctx, c->dev.id, DT_TR_SUSPEND, why, NULL, &err) !=
		    DT_OK)
			failed = "the device could not be suspended";
	}
	if (j.f.action != DT_CLONE_REPORT && out->allowed)
		deny(out, DT_VR_CLONE_SUSPECTED,
		     "certificate %s was presented from %s and %s within %lld s%s%s", j.f.serial,
		     j.f.first_addr, j.f.second_addr, (long long)j.f.window_s, failed ? "; " : "",
		     failed ? failed : "");
}

/* Decodes the relying party's input; a deny reason other than ALLOWED ends it. */
static enum dt_verify_reason take_input(const struct dt_verify_request *req, struct input *in,
					unsigned char **buf, unsigned char key[32],
					struct dt_error *why)
{
	memset(in, 0, sizeof(*in));
	if (req->cert && req->cert_len) {
		if (verify_leaf_der(req->cert, req->cert_len, buf, &in->der, &in->len, why) !=
		    DT_OK)
			return DT_VR_BAD_CERTIFICATE;
		dt_sha256(in->der, in->len, key);
		return DT_VR_ALLOWED;
	}
	if (req->serial && *req->serial) {
		char material[DT_SERIAL_HEX_BUF + sizeof(in->keyid) + 8];

		if (dt_serial_normalize(req->serial, in->serial, why) != DT_OK)
			return DT_VR_BAD_REQUEST;
		if (!req->issuer_key_id || !*req->issuer_key_id) {
			dt_fail(why, DT_ERR_INVALID,
				"a serial needs the issuer key id it was verified under");
			return DT_VR_BAD_REQUEST;
		}
		if (verify_keyid_normalize(req->issuer_key_id, in->keyid, why) != DT_OK)
			return DT_VR_BAD_REQUEST;
		snprintf(material, sizeof(material), "serial:%s:%s", in->serial, in->keyid);
		dt_sha256(material, strlen(material), key);
		return DT_VR_ALLOWED;
	}
	dt_fail(why, DT_ERR_INVALID, "no client certificate was presented");
	return DT_VR_NO_CERTIFICATE;
}

/* The entry of the certificate, read again from the store when stale. */
static dt_code current_state(struct dt_verifier *v, struct input *in, const unsigned char key[32],
			     struct vcert *cur, struct dt_error *err)
{
	size_t b = bucket_of(key);
	pthread_mutex_t *lock = &v->locks[b % VERIFY_LOCKS];
	unsigned long gen = atomic_load(&v->gen);
	struct vcert *e, prev;
	int have = 0;
	dt_code rc;

	pthread_mutex_lock(lock);
	if ((e = find_locked(v, b, key))) {
		*cur = *e;
		have = 1;
	}
	pthread_mutex_unlock(lock);
	if (have && v->opts.cache == DT_VERIFY_CACHE && cur->gen == gen) {
		atomic_fetch_add(&v->st.cache_hits, 1);
		return DT_OK;
	}
	if (have)
		prev = *cur;
	/* gen was read before the store: a change committed meanwhile leaves this
	 * entry stale from the start, never current with old data. */
	if ((rc = load_state(v, in, have ? &prev : NULL, cur, err)) != DT_OK)
		return rc;
	memcpy(cur->key, key, 32);
	cur->gen = gen;
	if (!have && atomic_load(&v->ncerts) >= VERIFY_CACHE_MAX)
		verify_cache_clear(v);
	pthread_mutex_lock(lock);
	if (!(e = find_locked(v, b, key)) && (e = calloc(1, sizeof(*e)))) {
		e->next = v->buckets[b];
		v->buckets[b] = e;
		atomic_fetch_add(&v->ncerts, 1);
	}
	if (e) {
		/* The store's word replaces everything but the clone tracking. */
		struct vcert *next = e->next;
		char addr[DT_PEER_BUF];
		int64_t at = e->last_addr_at;

		memcpy(addr, e->last_addr, sizeof(addr));
		*e = *cur;
		e->next = next;
		memcpy(e->last_addr, addr, sizeof(addr));
		e->last_addr_at = at;
	}
	pthread_mutex_unlock(lock);
	return DT_OK;
}

dt_code dt_verify(struct dt_verifier *v, const struct dt_verify_request *req,
		  struct dt_verify_result *out, struct dt_error *err)
{
	struct verify_route route;
	struct dt_error why;
	struct input in;
	struct vcert cur; /* a copy: the table's entry may change under other decisions */
	unsigned char key[32], *buf = NULL;
	enum dt_verify_reason r;
	int64_t now = dt_now();
	dt_code rc = DT_OK;

	memset(out, 0, sizeof(*out));
	memset(&in, 0, sizeof(in));
	atomic_fetch_add(&v->st.decisions, 1);
	if (verify_route_parse(req->service, req->method, req->path, &route, &why) != DT_OK ||
	    (req->peer && *req->peer && verify_peer_check(req->peer, &why) != DT_OK)) {
		deny(out, DT_VR_BAD_REQUEST, "%s", why.msg);
		goto out;
	}
	if ((r = take_input(req, &in, &buf, key, &why)) != DT_VR_ALLOWED) {
		deny(out, r, "%s", why.msg);
		goto out;
	}
	if ((rc = current_state(v, &in, key, &cur, err)) != DT_OK)
		goto out;
	judge(v, &cur, req->service, &route, now, out);
	if (cur.identified && !v->opts.no_record && req->peer && *req->peer &&
	    cur.clone_window_s > 0)
		check_clone(v, key, &cur, req->peer, now, out);
	if (cur.identified && v->seen) {
		struct dt_seen s;

		memset(&s, 0, sizeof(s));
		copy_text(s.device_id, sizeof(s.device_id), cur.dev.id);
		copy_text(s.last_addr, sizeof(s.last_addr), req->peer ? req->peer : "");
		copy_text(s.last_service, sizeof(s.last_service), req->service);
		copy_text(s.last_reason, sizeof(s.last_reason), dt_verify_reason_name(out->reason));
		s.last_seen = now;
		s.last_allowed = out->allowed;
		if (verify_seen_note(v, &s) && v->thread_started)
			verify_flush_soon(v);
	}
out:
	if (rc == DT_OK)
		atomic_fetch_add(&v->st.by_reason[out->reason], 1);
	X509_free(in.x);
	OPENSSL_free(buf);
	return rc;
}
