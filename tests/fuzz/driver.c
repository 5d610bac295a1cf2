/*
 * Runs a libFuzzer harness over files without libFuzzer, so the seed corpora
 * are regression tests under any compiler. Usage: HARNESS FILE...
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* Optional in a harness: weak, so its absence leaves this NULL. */
__attribute__((weak)) int LLVMFuzzerInitialize(int *argc, char ***argv);

/* Well above every target's -max_len; a larger file is a corpus mistake. */
#define DRIVER_MAX_INPUT (1024 * 1024)

static unsigned char *read_input(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf = NULL;

	*len = 0;
	if (!f)
		return NULL;
	if ((buf = malloc(DRIVER_MAX_INPUT + 1)))
		*len = fread(buf, 1, DRIVER_MAX_INPUT + 1, f);
	if (!buf || ferror(f) || *len > DRIVER_MAX_INPUT) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	return buf;
}

int main(int argc, char **argv)
{
	int failed = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s FILE...\n", argv[0]);
		return 2;
	}
	if (LLVMFuzzerInitialize)
		LLVMFuzzerInitialize(&argc, &argv);
	for (int i = 1; i < argc; i++) {
		size_t len;
		unsigned char *buf = read_input(argv[i], &len);

		if (!buf) {
			fprintf(stderr, "%s: cannot read (or larger than %d bytes)\n", argv[i],
				DRIVER_MAX_INPUT);
			failed = 1;
			continue;
		}
		/* A harness aborts on a bad result; returning means the input passed. */
		LLVMFuzzerTestOneInput(buf, len);
		free(buf);
	}
	return failed;
}
