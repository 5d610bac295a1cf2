/*
 * Device import from CSV, all or nothing: the whole file is one transaction,
 * and the first bad row aborts it with the line and the field at fault.
 */
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "inventory/csv.h"
#include "inventory/inventory.h"

static const char *const columns[] = {"id",	  "class", "serial",   "manufacturer", "model",
				      "firmware", "owner", "location", "criticality"};
#define N_COLUMNS 9

struct import_job {
	FILE *in;
	FILE *tokens;
	const char *actor;
	int64_t imported;
	struct csv_record rec;
	char last_class[DT_ID_BUF];
};

static dt_code map_header(struct csv_record *rec, int map[N_COLUMNS], struct dt_error *err)
{
	for (int c = 0; c < N_COLUMNS; c++)
		map[c] = -1;
	for (int f = 0; f < rec->nfields; f++) {
		int c;
		for (c = 0; c < N_COLUMNS; c++)
			if (strcmp(rec->field[f], columns[c]) == 0)
				break;
		if (c == N_COLUMNS)
			return dt_fail(err, DT_ERR_INVALID,
				       "line 1 (header): unknown column '%.32s'; columns are "
				       "id,class,serial,manufacturer,model,firmware,owner,location,"
				       "criticality",
				       rec->field[f]);
		if (map[c] >= 0)
			return dt_fail(err, DT_ERR_INVALID, "line 1 (header): column '%s' twice",
				       columns[c]);
		map[c] = f;
	}
	if (map[0] < 0 || map[1] < 0)
		return dt_fail(err, DT_ERR_INVALID,
			       "line 1 (header): the columns id and class are required");
	return DT_OK;
}

static const char *col(const struct csv_record *rec, const int map[N_COLUMNS], int c)
{
	return map[c] >= 0 ? rec->field[map[c]] : "";
}

/* Fills d from a record; on error names the field. */
static dt_code row_to_device(const struct csv_record *rec, const int map[N_COLUMNS],
			     struct dt_device *d, const char **field, struct dt_error *err)
{
	char *dst[] = {d->id,	 d->class_name, d->serial, d->manufacturer,
		       d->model, d->firmware,	d->owner,  d->location};
	size_t cap[] = {sizeof(d->id),		 sizeof(d->class_name), sizeof(d->serial),
			sizeof(d->manufacturer), sizeof(d->model),	sizeof(d->firmware),
			sizeof(d->owner),	 sizeof(d->location)};
	const char *crit;
	int v;
	dt_code rc;

	memset(d, 0, sizeof(*d));
	for (int c = 0; c < 8; c++) {
		if ((rc = dt_copy(dst[c], cap[c], col(rec, map, c), columns[c], err)) != DT_OK) {
			*field = columns[c];
			return rc;
		}
	}
	crit = col(rec, map, 8);
	v = *crit ? dt_criticality_parse(crit) : DT_CRIT_MEDIUM;
	if (v < 0) {
		*field = "criticality";
		return dt_fail(err, DT_ERR_INVALID,
			       "'%.32s' is not one of low, medium, high, life-critical", crit);
	}
	d->criticality = (enum dt_criticality)v;
	return inv_device_validate(d, field, err);
}

static dt_code import_row(struct store_txn *txn, struct import_job *j, const int map[N_COLUMNS],
			  long line, struct dt_error *err)
{
	struct dt_device d;
	struct dt_class cl;
	char token[DT_TOKEN_BUF] = "";
	const char *field = NULL;
	char why[96];
	dt_code rc;

	if ((rc = row_to_device(&j->rec, map, &d, &field, err)) != DT_OK)
		goto fail;
	if (strcmp(j->last_class, d.class_name) != 0) {
		if ((rc = txn->ops->class_get(txn, d.class_name, &cl, err)) != DT_OK) {
			field = "class";
			goto fail;
		}
		snprintf(j->last_class, sizeof(j->last_class), "%s", d.class_name);
	}
	snprintf(why, sizeof(why), "import, line %ld", line);
	if ((rc = inv_device_insert(txn, j->actor, &d, j->tokens ? token : NULL, why, err)) !=
	    DT_OK) {
		field = rc == DT_ERR_EXISTS ? "id" : NULL;
		goto fail;
	}
	if (j->tokens && fprintf(j->tokens, "%s,%s\n", d.id, token) < 0)
		return dt_fail(err, DT_ERR_IO, "cannot write the token file");
	j->imported++;
	return DT_OK;
fail : {
	char msg[DT_ERR_MSG_MAX];
	snprintf(msg, sizeof(msg), "%s", err->msg);
	if (field)
		return dt_fail(err, rc, "line %ld, field '%s': %s; nothing was imported", line,
			       field, msg);
	return dt_fail(err, rc, "line %ld: %s; nothing was imported", line, msg);
}
}

/* Reads one line into buf without its ending: length, -1 at end, -2 if too long. */
static long read_line(FILE *in, char *buf, size_t cap)
{
	size_t n = 0;
	int c;

	while ((c = getc_unlocked(in)) != EOF && c != '\n') {
		if (n + 1 >= cap) {
			while ((c = getc_unlocked(in)) != EOF && c != '\n')
				;
			return -2;
		}
		buf[n++] = (char)c;
	}
	if (c == EOF && n == 0)
		return -1;
	buf[n] = '\0';
	return (long)n;
}

static dt_code import_job(struct store_txn *txn, void *arg, struct dt_error *err)
{
	struct import_job *j = arg;
	int map[N_COLUMNS];
	char *line = NULL;
	long n;
	long lineno = 0;
	int want = 0;
	dt_code rc = DT_OK;

	if (!(line = malloc(DT_MAX_CSV_LINE + 2)))
		return dt_fail(err, DT_ERR_INTERNAL, "out of memory");
	while ((n = read_line(j->in, line, DT_MAX_CSV_LINE + 2)) != -1) {
		lineno++;
		if (n == -2) {
			rc = dt_fail(err, DT_ERR_INVALID,
				     "line %ld is longer than %d bytes; nothing was imported",
				     lineno, DT_MAX_CSV_LINE);
			break;
		}
		while (n > 0 && line[n - 1] == '\r')
			line[--n] = '\0';
		if (lineno == 1 && n >= 3 && memcmp(line, "\xEF\xBB\xBF", 3) == 0) {
			memmove(line, line + 3, (size_t)n - 2);
			n -= 3;
		}
		if (memchr(line, '\0', (size_t)n)) {
			rc = dt_fail(err, DT_ERR_INVALID,
				     "line %ld: NUL byte; nothing was imported", lineno);
			break;
		}
		if (n == 0 && lineno > 1)
			continue;
		if (lineno - 1 > DT_MAX_CSV_ROWS) {
			rc = dt_fail(err, DT_ERR_INVALID,
				     "more than %d rows: split the file; nothing was imported",
				     DT_MAX_CSV_ROWS);
			break;
		}
		if ((rc = csv_split(line, (size_t)n, &j->rec, err)) != DT_OK) {
			char msg[DT_ERR_MSG_MAX];
			snprintf(msg, sizeof(msg), "%s", err->msg);
			rc = dt_fail(err, rc, "line %ld: %s; nothing was imported", lineno, msg);
			break;
		}
		if (lineno == 1) {
			if ((rc = map_header(&j->rec, map, err)) != DT_OK)
				break;
			want = j->rec.nfields;
			continue;
		}
		if (j->rec.nfields != want) {
			rc = dt_fail(err, DT_ERR_INVALID,
				     "line %ld: %d fields, the header has %d; nothing was imported",
				     lineno, j->rec.nfields, want);
			break;
		}
		if ((rc = import_row(txn, j, map, lineno, err)) != DT_OK)
			break;
	}
	free(line);
	if (rc == DT_OK && ferror(j->in))
		rc = dt_fail(err, DT_ERR_IO, "cannot read the import file");
	if (rc == DT_OK && lineno == 0)
		rc = dt_fail(err, DT_ERR_INVALID,
			     "the import file is empty: it needs a header line");
	return rc;
}

dt_code dt_device_import_csv(struct dt_ctx *ctx, FILE *in, FILE *tokens, int64_t *imported,
			     struct dt_error *err)
{
	struct import_job *j = calloc(1, sizeof(*j));
	char *buf = NULL;
	size_t buf_len = 0;
	dt_code rc;

	*imported = 0;
	if (!j)
		return dt_fail(err, DT_ERR_INTERNAL, "out of memory");
	j->in = in;
	j->actor = dt_actor(ctx);
	/* Tokens reach the caller's file only after the import committed: a failed
	 * import must not hand out tokens for devices that do not exist. */
	if (tokens && !(j->tokens = open_memstream(&buf, &buf_len))) {
		free(j);
		return dt_fail(err, DT_ERR_INTERNAL, "out of memory");
	}
	rc = store_write(ctx->store, import_job, j, err);
	if (j->tokens && fclose(j->tokens) != 0 && rc == DT_OK)
		rc = dt_fail(err, DT_ERR_INTERNAL, "out of memory for the tokens");
	if (rc == DT_OK) {
		*imported = j->imported;
		if (buf_len && fwrite(buf, 1, buf_len, tokens) != buf_len)
			rc = dt_fail(
			    err, DT_ERR_IO,
			    "devices imported, but writing their tokens failed; issue fresh "
			    "ones with 'devtrust device token'");
	}
	if (buf)
		OPENSSL_cleanse(buf, buf_len);
	free(buf);
	free(j);
	return rc;
}
