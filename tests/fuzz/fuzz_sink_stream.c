/*
 * fuzz_sink_stream.c -- sink_stream_error() (sink.h) on arbitrary stream
 * header bytes: what a denied XMPP server sends the listener sink.
 *
 * Input:
 *   byte 0      the requester: none (NULL), empty, a domain, a 253-byte name
 *   byte 1      the output buffer: 2048 bytes (what sink.c uses), or a
 *               short one (1 to 255 bytes) to try the truncation
 *   the rest    the header (not NUL-terminated: an exact heap copy, so a
 *               read past its length is caught)
 *
 * Checks (abort() when broken): the returned length is the string's and
 * within the buffer; with room for it, the reply is our stream header, one
 * policy-violation element, the text and the closing tags, with no markup
 * of the peer's: the only variable parts (the domain asked for, the
 * requester named in the text) are name characters [A-Za-z0-9._-], each
 * copied from the header in order, or the fixed words used without them.
 */
#include "config.h"
#include "fuzz.h"
#include "sink.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


#define FAIL(...) fuzz_fail("fuzz_sink_stream", __VA_ARGS__)

static const char HEAD[] = "<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
                           "xmlns:stream='http://etherx.jabber.org/streams' version='1.0'";
static const char OPEN_REST[] = " id='clearinghouse-sink'><stream:error>"
                                "<policy-violation xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
                                "<text xmlns='urn:ietf:params:xml:ns:xmpp-streams' xml:lang='en'>"
                                "Federation from ";
static const char TAIL[] = " is denied by the federation clearinghouse policy."
                           "</text></stream:error></stream:stream>";
static const char VIOLATION[] = "<policy-violation xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>";

static bool
name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
	       c == '-' || c == '_';
}

/* Is the n bytes at s made of name characters only, each found in hdr in order? */
static bool
from_header(const char *s, size_t n, const uint8_t *hdr, size_t hlen)
{
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (!name_char(s[i]))
			return false;
		while (k < hlen && hdr[k] != (uint8_t)s[i])
			k++;
		if (k == hlen)
			return false;
		k++;
	}
	return true;
}

static size_t
count(const char *hay, const char *needle)
{
	size_t n = 0;
	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
		n++;
	return n;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char long_name[254];
	static const char *const requesters[4] = { NULL, "", "a.test", long_name };

	if (!long_name[0]) {
		for (size_t i = 0; i < 253; i++)
			long_name[i] = i % 64 == 63 ? '.' : 'a' + (char)(i % 26);
	}
	if (size < 2)
		return 0;
	const char *requester = requesters[data[0] & 3];
	size_t outlen = data[1] == 0 ? 2048 : data[1];
	size_t hlen = size - 2;
	char *hdr = malloc(hlen ? hlen : 1);
	char *out = malloc(outlen);
	if (!hdr || !out)
		abort();
	memcpy(hdr, data + 2, hlen);
	memset(out, 'X', outlen);

	size_t n = sink_stream_error(hdr, hlen, requester, out, outlen);
	if (n >= outlen)
		FAIL("length %zu for a buffer of %zu", n, outlen);
	if (out[n] != '\0' || strlen(out) != n)
		FAIL("length %zu, but the string is %zu bytes", n, strlen(out));

	if (outlen == 2048) {
		const uint8_t *h = data + 2;
		if (strncmp(out, HEAD, strlen(HEAD)) != 0)
			FAIL("the reply does not start with our stream header: %s", out);
		if (n < strlen(TAIL) || strcmp(out + n - strlen(TAIL), TAIL) != 0)
			FAIL("the reply does not end with the text and the closing tags: %s", out);
		if (count(out, VIOLATION) != 1 || count(out, "<policy-violation") != 1)
			FAIL("not exactly one policy-violation element: %s", out);
		if (count(out, "<") != 8 || count(out, ">") != 8)
			FAIL("markup other than ours: %s", out);
		/* our stream's from: the domain the peer asked for */
		const char *p = out + strlen(HEAD), *to = NULL;
		size_t to_len = 0;
		if (strncmp(p, " from='", 7) == 0) {
			to = p + 7;
			const char *q = strchr(to, '\'');
			if (!q)
				FAIL("an unterminated from attribute: %s", out);
			to_len = (size_t)(q - to);
			if (to_len == 0 || !from_header(to, to_len, h, hlen))
				FAIL("our from attribute is not a name from the header: %s", out);
			p = q + 1;
		}
		if (strncmp(p, OPEN_REST, strlen(OPEN_REST)) != 0)
			FAIL("the stream error does not follow our header: %s", out);
		/* "Federation from R to T is denied" */
		const char *rq = p + strlen(OPEN_REST);
		const char *end = out + n - strlen(TAIL);
		const char *t = NULL;
		size_t tlen = to ? to_len : strlen("this domain");
		if ((size_t)(end - rq) < tlen + 4)
			FAIL("the text names no pair: %s", out);
		t = end - tlen;
		if (strncmp(t - 4, " to ", 4) != 0 || strncmp(t, to ? to : "this domain", tlen) != 0)
			FAIL("the text does not name the domain asked for: %s", out);
		size_t rlen = (size_t)(t - 4 - rq);
		if (requester && *requester) {
			if (rlen != strlen(requester) || strncmp(rq, requester, rlen) != 0)
				FAIL("the text does not name the requester %s: %s", requester, out);
		} else if (!(rlen == strlen("an unidentified server") &&
		             strncmp(rq, "an unidentified server", rlen) == 0) &&
		           (rlen == 0 || !from_header(rq, rlen, h, hlen))) {
			FAIL("the requester in the text is not a name from the header: %s", out);
		}
	}
	free(hdr);
	free(out);
	return 0;
}
