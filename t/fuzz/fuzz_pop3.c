/* fuzz_pop3.c: libFuzzer target for the POP3 command parser, SASL decoding and the RETR/TOP encoder */
#include "config.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pop3_dot.h"
#include "pop3_parse.h"
#include "pop3_sasl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The encoder must give the same bytes however its input is split. */
static void
encode_split(const uint8_t *data, size_t size, bool top, uint32_t lines)
{
	uint8_t *whole = malloc(POP3_DOT_OUT_MAX(size) + POP3_DOT_FINISH_MAX);
	uint8_t *parts = malloc(POP3_DOT_OUT_MAX(size) + POP3_DOT_FINISH_MAX +
	    POP3_DOT_OUT_MAX(1) * 2);
	struct pop3_dot a, b;
	size_t n1 = 0, n2 = 0, used, off;

	if (whole == NULL || parts == NULL)
		abort();
	pop3_dot_init(&a, top, lines);
	n1 = pop3_dot_feed(&a, data, size, whole, &used);
	n1 += pop3_dot_finish(&a, whole + n1);
	pop3_dot_init(&b, top, lines);
	for (off = 0; off < size && !pop3_dot_done(&b); off += used) {
		size_t step = (size - off) < 3 ? size - off : 3;

		n2 += pop3_dot_feed(&b, data + off, step, parts + n2, &used);
		if (used == 0)
			break;
	}
	n2 += pop3_dot_finish(&b, parts + n2);
	if (n1 != n2 || memcmp(whole, parts, n1) != 0)
		abort();
	free(whole);
	free(parts);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pop3_cmd cmd;
	uint8_t *buf;
	long n;

	pop3_parse_line(data, size, &cmd);
	buf = malloc(size + 4);
	if (buf == NULL)
		abort();
	n = pop3_sasl_decode(data, size, buf);
	if (n >= 0) {
		const char *user, *pass;

		buf[n] = '\0';
		pop3_sasl_plain(buf, (size_t)n, &user, &pass);
	}
	free(buf);
	encode_split(data, size, false, 0);
	encode_split(data, size, true, size > 0 ? data[0] % 8 : 0);
	return 0;
}
