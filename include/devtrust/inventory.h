/*
 * Inventory: device classes (profiles), devices, their lifecycle and their
 * one-time enrollment tokens. Every change is one transaction with its
 * certificate consequences and its audit event.
 */
#ifndef DEVTRUST_INVENTORY_H
#define DEVTRUST_INVENTORY_H

#include <stdio.h>
#include "devtrust/devtrust.h"

enum dt_state {
	DT_STATE_REGISTERED = 0,
	DT_STATE_ACTIVE,
	DT_STATE_SUSPENDED,
	DT_STATE_RETIRED,
	DT_STATE_COMPROMISED,
};
#define DT_STATE_COUNT 5

enum dt_criticality {
	DT_CRIT_LOW = 0,
	DT_CRIT_MEDIUM,
	DT_CRIT_HIGH,
	DT_CRIT_LIFE_CRITICAL,
};

/* Key types a class may allow (bit mask). */
enum dt_key_type {
	DT_KEY_EC_P256 = 1 << 0,
	DT_KEY_EC_P384 = 1 << 1,
	DT_KEY_RSA_2048 = 1 << 2,
	DT_KEY_RSA_3072 = 1 << 3,
	DT_KEY_RSA_4096 = 1 << 4,
	DT_KEY_ED25519 = 1 << 5,
};
#define DT_KEY_ALL 0x3f

enum dt_eku {
	DT_EKU_CLIENT_AUTH = 1 << 0,
	DT_EKU_SERVER_AUTH = 1 << 1,
};

#define DT_ID_BUF 65
#define DT_FIELD_BUF 257
/* 128-bit token as 32 hex characters, plus NUL. */
#define DT_TOKEN_BUF 33

struct dt_class {
	char name[DT_ID_BUF];
	char ca[DT_ID_BUF];
	int64_t lifetime_s;
	unsigned key_types; /* enum dt_key_type mask */
	unsigned eku;	    /* enum dt_eku mask */
	double renew_at;    /* fraction of the lifetime after which agents renew */
	char min_firmware[DT_ID_BUF];
	int revoke_superseded; /* re-enrollment revokes the previous certificate */
	int64_t created_at;
};

struct dt_device {
	char id[DT_ID_BUF];
	char class_name[DT_ID_BUF];
	char serial[DT_ID_BUF];
	char manufacturer[DT_FIELD_BUF];
	char model[DT_FIELD_BUF];
	char firmware[DT_ID_BUF];
	char owner[DT_FIELD_BUF];
	char location[DT_FIELD_BUF];
	enum dt_criticality criticality;
	enum dt_state state;
	int64_t created_at;
	int64_t updated_at;
	int64_t token_expires; /* 0: no usable token */
};

struct dt_device_filter {
	const char *class_name; /* NULL: any */
	int state;		/* -1: any, else enum dt_state */
	const char *owner;
	const char *manufacturer;
	const char *after_id; /* NULL: from the first; else ids after this one (pagination) */
};

enum dt_transition {
	DT_TR_SUSPEND = 0,
	DT_TR_RESUME,
	DT_TR_RETIRE,
	DT_TR_COMPROMISED,
};

typedef int (*dt_class_cb)(void *arg, const struct dt_class *c);
typedef int (*dt_device_cb)(void *arg, const struct dt_device *d);

/* Names and parsers for the enums above; parse returns -1 when unknown. */
const char *dt_state_name(enum dt_state s);
int dt_state_parse(const char *s);
const char *dt_criticality_name(enum dt_criticality c);
int dt_criticality_parse(const char *s);
const char *dt_key_type_name(unsigned key_type);
DT_MUST_USE dt_code dt_key_types_parse(const char *list, unsigned *mask, struct dt_error *err);
DT_MUST_USE dt_code dt_eku_parse(const char *list, unsigned *mask, struct dt_error *err);
/* "30d", "12h", "90m", "3600s", "1y" */
DT_MUST_USE dt_code dt_duration_parse(const char *s, int64_t *seconds, struct dt_error *err);
/* Fills a class with the defaults: 30 days, ec-p256, clientAuth, renew at 2/3. */
void dt_class_defaults(struct dt_class *c);

DT_MUST_USE dt_code dt_class_add(struct dt_ctx *ctx, const struct dt_class *c,
				 struct dt_error *err);
/* Changes a class's profile (lifetime, key types, EKU, renewal point, minimum
 * firmware, superseding); its CA binding never changes. Applies to new
 * certificates; `report weak` finds existing ones below a tightened policy. */
DT_MUST_USE dt_code dt_class_update(struct dt_ctx *ctx, const struct dt_class *c,
				    struct dt_error *err);
DT_MUST_USE dt_code dt_class_get(struct dt_ctx *ctx, const char *name, struct dt_class *out,
				 struct dt_error *err);
DT_MUST_USE dt_code dt_class_list(struct dt_ctx *ctx, dt_class_cb cb, void *arg,
				  struct dt_error *err);

/* Adds a registered device; token receives its enrollment token (shown once). */
DT_MUST_USE dt_code dt_device_add(struct dt_ctx *ctx, const struct dt_device *d,
				  char token[DT_TOKEN_BUF], struct dt_error *err);
DT_MUST_USE dt_code dt_device_get(struct dt_ctx *ctx, const char *id, struct dt_device *out,
				  struct dt_error *err);
DT_MUST_USE dt_code dt_device_list(struct dt_ctx *ctx, const struct dt_device_filter *f,
				   dt_device_cb cb, void *arg, struct dt_error *err);
/* Applies a lifecycle transition and its certificate consequences atomically. */
DT_MUST_USE dt_code dt_device_transition(struct dt_ctx *ctx, const char *id, enum dt_transition t,
					 const char *reason, int64_t *changed_certs,
					 struct dt_error *err);
/* A fresh one-time token, invalidating the previous one. ttl_s 0: 7 days. */
DT_MUST_USE dt_code dt_device_token(struct dt_ctx *ctx, const char *id, int64_t ttl_s,
				    char token[DT_TOKEN_BUF], struct dt_error *err);
/* Checks a token without consuming it (consumed by issuance). */
DT_MUST_USE dt_code dt_device_token_check(struct dt_ctx *ctx, const char *id, const char *token,
					  struct dt_error *err);

/*
 * Imports a CSV (header id,class,serial,manufacturer,model,firmware,owner,
 * location,criticality) all or nothing. If tokens is not NULL, each device
 * gets an enrollment token, written there as "id,token" lines.
 */
DT_MUST_USE dt_code dt_device_import_csv(struct dt_ctx *ctx, FILE *in, FILE *tokens,
					 int64_t *imported, struct dt_error *err);

/*
 * Manufacturer trust anchors (IEEE 802.1AR): the CA certificates a maker's
 * IDevIDs chain to. An anchor vouches only for devices whose manufacturer
 * field is its manufacturer's name; EST bootstrap (est.h) uses them.
 */
struct dt_manufacturer_anchor {
	char manufacturer[DT_FIELD_BUF];
	char fingerprint[65]; /* hex SHA-256 of the DER certificate */
	char subject[DT_FIELD_BUF];
	int64_t not_after;
	int64_t created_at;
};

typedef int (*dt_manufacturer_cb)(void *arg, const struct dt_manufacturer_anchor *a);

/* Registers a CA certificate (PEM or DER, basicConstraints CA:TRUE, not
 * expired) as a trust anchor of manufacturer name, with its audit event. */
DT_MUST_USE dt_code dt_manufacturer_add(struct dt_ctx *ctx, const char *name,
					const unsigned char *anchor, size_t len,
					struct dt_error *err);
/* Every anchor, by manufacturer, oldest first. */
DT_MUST_USE dt_code dt_manufacturer_list(struct dt_ctx *ctx, dt_manufacturer_cb cb, void *arg,
					 struct dt_error *err);

#endif
