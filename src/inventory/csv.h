/*
 * A strict RFC 4180 line reader: one record per line (fields may be quoted,
 * quotes doubled inside; no line breaks inside fields), bounded line length
 * and field count.
 */
#ifndef DT_CSV_H
#define DT_CSV_H

#include <stddef.h>

#include "devtrust/devtrust.h"

#define CSV_MAX_FIELDS 16

struct csv_record {
	char buf[4096 + 1];
	char *field[CSV_MAX_FIELDS];
	int nfields;
};

/*
 * Splits one line (without its line ending) into fields, in place in rec->buf.
 * Returns DT_ERR_INVALID with the column number on malformed quoting.
 */
DT_MUST_USE dt_code csv_split(const char *line, size_t len, struct csv_record *rec,
			      struct dt_error *err);

#endif
