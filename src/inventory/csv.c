/*
 * RFC 4180 field splitting for the device import. Small on purpose: one
 * record per line, no embedded line breaks, every quote accounted for.
 */
#include <string.h>

#include "core/limits.h"
#include "inventory/csv.h"

dt_code csv_split(const char *line, size_t len, struct csv_record *rec, struct dt_error *err)
{
	size_t i = 0, o = 0;

	rec->nfields = 0;
	if (len > DT_MAX_CSV_LINE || len + 1 > sizeof(rec->buf))
		return dt_fail(err, DT_ERR_INVALID, "line is longer than %d bytes",
			       DT_MAX_CSV_LINE);
	for (;;) {
		if (rec->nfields == CSV_MAX_FIELDS)
			return dt_fail(err, DT_ERR_INVALID, "more than %d fields", CSV_MAX_FIELDS);
		rec->field[rec->nfields++] = rec->buf + o;
		if (i < len && line[i] == '"') {
			i++;
			for (;;) {
				if (i >= len)
					return dt_fail(err, DT_ERR_INVALID,
						       "field %d: quote not closed (RFC 4180 "
						       "section 2)",
						       rec->nfields);
				if (line[i] == '"') {
					if (i + 1 < len && line[i + 1] == '"') {
						rec->buf[o++] = '"';
						i += 2;
						continue;
					}
					i++;
					break;
				}
				rec->buf[o++] = line[i++];
			}
			if (i < len && line[i] != ',')
				return dt_fail(err, DT_ERR_INVALID,
					       "field %d: text after the closing quote (RFC 4180 "
					       "section 2)",
					       rec->nfields);
		} else {
			while (i < len && line[i] != ',') {
				if (line[i] == '"')
					return dt_fail(err, DT_ERR_INVALID,
						       "field %d: quote inside an unquoted field "
						       "(RFC 4180 section 2)",
						       rec->nfields);
				rec->buf[o++] = line[i++];
			}
		}
		rec->buf[o++] = '\0';
		if (i >= len)
			break;
		i++; /* the comma */
	}
	return DT_OK;
}
