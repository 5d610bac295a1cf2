/*
 * The dashboard's static files (ui/), compiled into the binary by
 * scripts/embed-ui.sh so the server needs nothing beside itself.
 */
#ifndef DT_UI_FILES_H
#define DT_UI_FILES_H

#include <stddef.h>

struct ui_file {
	const char *name; /* path under /ui/ */
	const char *type; /* Content-Type */
	const unsigned char *data;
	size_t len;
};

extern const struct ui_file ui_files[];
extern const size_t ui_files_count;

#endif
