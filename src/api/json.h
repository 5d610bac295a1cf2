/*
 * The JSON form of every object, shared by the CLI's --json output and the
 * admin API, so both show the same fields with the same names.
 */
#ifndef DT_API_JSON_H
#define DT_API_JSON_H

#include <jansson.h>

#include "devtrust/admin.h"
#include "devtrust/audit.h"
#include "devtrust/inventory.h"
#include "devtrust/pki.h"
#include "devtrust/report.h"
#include "devtrust/verify.h"

/* RFC 3339 UTC ("2026-11-23T10:00:00Z"), or "-" for 0. */
void api_time(int64_t t, char *buf, size_t cap);

json_t *api_device_json(const struct dt_device *d);
json_t *api_cert_json(const struct dt_cert_info *ci);
json_t *api_ca_json(const struct dt_ca_info *ca);
json_t *api_signer_json(const struct dt_ocsp_signer_info *s);
json_t *api_class_json(const struct dt_class *cl);
json_t *api_anchor_json(const struct dt_manufacturer_anchor *a);
json_t *api_policy_json(const struct dt_policy *p);
json_t *api_finding_json(const struct dt_finding *f);
json_t *api_audit_json(const struct dt_audit_event *e);
json_t *api_cred_json(const struct dt_admin_cred *c);

/* A new device's fields by name (class, serial, manufacturer, model, firmware, owner,
 * location, criticality), whether from CLI options or an API body. */
typedef const char *(*api_getter)(void *arg, const char *name);
DT_MUST_USE dt_code api_device_parse(struct dt_device *d, const char *id, api_getter get, void *arg,
				     struct dt_error *err);

#endif
