/*
 * Findings a fleet operator acts on: expiring certificates, drift between
 * inventory state and certificates, shared keys, and keys below policy.
 */
#ifndef DEVTRUST_REPORT_H
#define DEVTRUST_REPORT_H

#include "devtrust/pki.h"

enum dt_finding_kind {
	DT_FIND_EXPIRING = 0,
	DT_FIND_CERT_ON_INACTIVE, /* a valid certificate on a device that is not active */
	DT_FIND_ACTIVE_NO_CERT,	  /* an active device with no valid certificate */
	DT_FIND_DUPLICATE_KEY,	  /* one public key on more than one device */
	DT_FIND_WEAK_KEY,	  /* key type not allowed by the class policy */
};

struct dt_finding {
	enum dt_finding_kind kind;
	char device_id[DT_ID_BUF];
	char class_name[DT_ID_BUF];
	char serial[DT_SERIAL_HEX_BUF];
	enum dt_state state;
	enum dt_criticality criticality;
	int64_t not_after;
	char detail[DT_FIELD_BUF];
};

typedef int (*dt_finding_cb)(void *arg, const struct dt_finding *f);

const char *dt_finding_kind_name(enum dt_finding_kind k);

DT_MUST_USE dt_code dt_report_expiring(struct dt_ctx *ctx, int64_t within_s, dt_finding_cb cb,
				       void *arg, struct dt_error *err);
DT_MUST_USE dt_code dt_report_drift(struct dt_ctx *ctx, dt_finding_cb cb, void *arg,
				    struct dt_error *err);
DT_MUST_USE dt_code dt_report_duplicates(struct dt_ctx *ctx, dt_finding_cb cb, void *arg,
					 struct dt_error *err);
DT_MUST_USE dt_code dt_report_weak(struct dt_ctx *ctx, dt_finding_cb cb, void *arg,
				   struct dt_error *err);

#endif
