/*
 * Firmware versions as vendors write them ("2.10.3", "v4.2-b7", "2021.03"):
 * compared run by run, digit runs as numbers and everything else as bytes,
 * so "1.10" is above "1.9". Not full semantic versioning: a pre-release
 * ("2.0.0-rc1") counts as above its release, the safe side for a minimum.
 */
#include <string.h>

#include "verify/verify.h"

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static int is_sep(char c)
{
	return c == '.' || c == '-' || c == '_' || c == '+' || c == ' ';
}

int verify_firmware_cmp(const char *a, const char *b)
{
	for (;;) {
		while (is_sep(*a))
			a++;
		while (is_sep(*b))
			b++;
		if (!*a || !*b)
			return (*a != '\0') - (*b != '\0');
		if (is_digit(*a) && is_digit(*b)) {
			size_t na, nb;
			int c;

			while (*a == '0' && is_digit(a[1]))
				a++;
			while (*b == '0' && is_digit(b[1]))
				b++;
			for (na = 0; is_digit(a[na]); na++)
				;
			for (nb = 0; is_digit(b[nb]); nb++)
				;
			if (na != nb)
				return na < nb ? -1 : 1;
			if ((c = memcmp(a, b, na)) != 0)
				return c < 0 ? -1 : 1;
			a += na;
			b += nb;
		} else if (is_digit(*a) != is_digit(*b)) {
			/* A number ranks above a word at the same place ("1.2" > "1.beta"). */
			return is_digit(*a) ? 1 : -1;
		} else {
			size_t na = 0, nb = 0, n;
			int c;

			while (a[na] && !is_digit(a[na]) && !is_sep(a[na]))
				na++;
			while (b[nb] && !is_digit(b[nb]) && !is_sep(b[nb]))
				nb++;
			n = na < nb ? na : nb;
			if ((c = memcmp(a, b, n)) != 0)
				return c < 0 ? -1 : 1;
			if (na != nb)
				return na < nb ? -1 : 1;
			a += na;
			b += nb;
		}
	}
}
