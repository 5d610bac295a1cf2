/*
 * libFuzzer harness for csv_split: the input is one import line. Checks that
 * every field lies inside the record buffer, is NUL-terminated there, and
 * that the fields never hold more bytes than the line had.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/limits.h"
#include "inventory/csv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

__attribute__((noreturn)) static void fail(const char *why)
{
	fprintf(stderr, "csv_fuzz: %s\n", why);
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct csv_record *rec;
	struct dt_error err = {0};
	size_t total = 0;
	dt_code rc;

	/* Heap, not stack, so ASan sees the exact end of the line. */
	char *line = malloc(size ? size : 1);
	if (!line || !(rec = malloc(sizeof(*rec))))
		abort();
	if (size)
		memcpy(line, data, size);
	rc = csv_split(line, size, rec, &err);
	if (rc != DT_OK) {
		if (err.code != rc || err.msg[0] == '\0')
			fail("a rejection without its code and message");
		goto out;
	}
	if (size > DT_MAX_CSV_LINE || rec->nfields < 1 || rec->nfields > CSV_MAX_FIELDS)
		fail("accepted a line over the limit, or a field count out of range");
	for (int f = 0; f < rec->nfields; f++) {
		const char *p = rec->field[f];
		const char *end = rec->buf + sizeof(rec->buf);
		const char *nul;

		if (p < rec->buf || p >= end || !(nul = memchr(p, '\0', (size_t)(end - p))))
			fail("a field outside the record buffer or without its NUL");
		/* Fields are laid out in order, one after the other. */
		if (f > 0 && p <= rec->field[f - 1])
			fail("fields out of order");
		total += (size_t)(nul - p);
	}
	if (total > size)
		fail("the fields hold more bytes than the line");
out:
	free(rec);
	free(line);
	return 0;
}
