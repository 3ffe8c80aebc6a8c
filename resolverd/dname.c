/*
 * dname.c -- wire-format name handling.
 */
#include "config.h"
#include "dname.h"

#include <stdio.h>
#include <string.h>

static inline uint8_t
lower(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c;
}

size_t
dname_from_text(const char *text, uint8_t *wire)
{
	size_t out = 0, tlen = strlen(text);

	if (tlen == 1 && text[0] == '.') {
		wire[0] = 0;
		return 1;
	}
	if (tlen == 0)
		return 0;
	if (text[tlen - 1] == '.')
		tlen--;
	size_t i = 0;
	while (i < tlen) {
		size_t start = i;
		while (i < tlen && text[i] != '.') {
			if (text[i] == '\\')
				return 0;
			i++;
		}
		size_t llen = i - start;
		if (llen == 0 || llen > 63 || out + 1 + llen + 1 > DNAME_MAXLEN)
			return 0;
		wire[out++] = (uint8_t)llen;
		for (size_t k = 0; k < llen; k++)
			wire[out++] = lower((uint8_t)text[start + k]);
		if (i < tlen)
			i++; /* the dot */
		if (i == tlen && text[i - 1] == '.')
			return 0; /* "a..": an empty last label */
	}
	wire[out++] = 0;
	return out;
}

char *
dname_to_text(const uint8_t *wire, char *buf, size_t len)
{
	size_t o = 0;

	if (len == 0)
		return buf;
	if (*wire == 0) {
		snprintf(buf, len, ".");
		return buf;
	}
	while (*wire) {
		uint8_t l = *wire++;
		if (o > 0) {
			if (o + 2 > len)
				break;
			buf[o++] = '.';
		}
		for (uint8_t k = 0; k < l; k++) {
			uint8_t c = wire[k];
			char esc[5];
			size_t n;
			if (c == '.' || c == '\\')
				n = (size_t)snprintf(esc, sizeof(esc), "\\%c", c);
			else if (c > 32 && c < 127)
				n = (size_t)snprintf(esc, sizeof(esc), "%c", c);
			else
				n = (size_t)snprintf(esc, sizeof(esc), "\\%03u", c);
			if (o + n + 1 > len)
				goto out;
			memcpy(buf + o, esc, n);
			o += n;
		}
		wire += l;
	}
out:
	buf[o] = '\0';
	return buf;
}

size_t
dname_length(const uint8_t *wire, size_t max)
{
	size_t o = 0;

	while (o < max) {
		uint8_t l = wire[o];
		if (l == 0)
			return o + 1 <= DNAME_MAXLEN ? o + 1 : 0;
		if (l > 63)
			return 0; /* compression pointers are not expected here */
		o += 1 + (size_t)l;
		if (o > DNAME_MAXLEN)
			return 0;
	}
	return 0;
}

void
dname_lower(uint8_t *wire)
{
	while (*wire) {
		uint8_t l = *wire++;
		for (uint8_t k = 0; k < l; k++)
			wire[k] = lower(wire[k]);
		wire += l;
	}
}

unsigned
dname_labels(const uint8_t *wire)
{
	unsigned n = 0;

	while (*wire) {
		wire += 1 + *wire;
		n++;
	}
	return n;
}

const uint8_t *
dname_skip(const uint8_t *wire, unsigned n)
{
	while (n-- > 0 && *wire)
		wire += 1 + *wire;
	return wire;
}

bool
dname_equal(const uint8_t *a, const uint8_t *b)
{
	for (;;) {
		if (*a != *b)
			return false;
		if (*a == 0)
			return true;
		uint8_t l = *a;
		for (uint8_t k = 1; k <= l; k++)
			if (lower(a[k]) != lower(b[k]))
				return false;
		a += 1 + l;
		b += 1 + l;
	}
}

uint32_t
dname_hash(const uint8_t *wire, size_t len)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < len; i++)
		h = (h ^ lower(wire[i])) * 16777619u;
	return h;
}

bool
dname_is_below(const uint8_t *name, const uint8_t *zone)
{
	unsigned nl = dname_labels(name), zl = dname_labels(zone);

	if (nl < zl)
		return false;
	return dname_equal(dname_skip(name, nl - zl), zone);
}

/* Compare one label of wire with a lower-case literal. */
static bool
label_is(const uint8_t *wire, const char *lit)
{
	size_t n = strlen(lit);

	if (*wire != n)
		return false;
	for (size_t k = 0; k < n; k++)
		if (lower(wire[1 + k]) != (uint8_t)lit[k])
			return false;
	return true;
}

enum xmpp_service
dname_xmpp_service(const uint8_t *wire, const uint8_t **rest)
{
	enum xmpp_service s;

	if (label_is(wire, "_xmpp-server"))
		s = XMPP_SERVER;
	else if (label_is(wire, "_xmpps-server"))
		s = XMPP_SERVER_TLS;
	else if (label_is(wire, "_jabber"))
		s = XMPP_JABBER;
	else
		return XMPP_NONE;
	wire += 1 + *wire;
	if (!label_is(wire, "_tcp"))
		return XMPP_NONE;
	*rest = wire + 1 + *wire;
	return s;
}
