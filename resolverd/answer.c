/*
 * answer.c -- response writer.
 */
#include "config.h"
#include "answer.h"
#include "dname.h"

#include <ldns/ldns.h>

#include <string.h>

#define OPT_RR_LEN 11

void
answer_start(struct answer *a, uint8_t *buf, size_t cap, size_t limit, uint16_t id,
             const uint8_t *question, size_t question_len)
{
	memset(a, 0, sizeof(*a));
	a->buf = buf;
	a->cap = cap;
	a->limit = limit < cap ? limit : cap;
	ldns_write_uint16(buf, id);
	memset(buf + 2, 0, LDNS_HEADER_SIZE - 2);
	LDNS_QR_SET(buf);
	a->len = LDNS_HEADER_SIZE;
	if (question && question_len && LDNS_HEADER_SIZE + question_len <= cap) {
		memcpy(buf + LDNS_HEADER_SIZE, question, question_len);
		ldns_write_uint16(buf + 4, 1);
		a->len += question_len;
	}
	a->question_end = a->len;
}

void
answer_set_rcode(struct answer *a, uint8_t rcode)
{
	LDNS_RCODE_SET(a->buf, rcode & LDNS_RCODE_MASK);
}

/* Room left for RRs, keeping space for the OPT record. */
static size_t
room(const struct answer *a)
{
	size_t reserve = a->edns ? OPT_RR_LEN : 0;
	return a->limit > a->len + reserve ? a->limit - a->len - reserve : 0;
}

bool
answer_add_rr(struct answer *a, enum dns_section s, const uint8_t *owner, uint16_t type,
              uint16_t rrclass, uint32_t ttl, const uint8_t *rdata, uint16_t rdlen)
{
	/* the question's name (any case) is written as a pointer to it */
	if (owner && a->question_end > LDNS_HEADER_SIZE && dname_equal(owner, a->buf + LDNS_HEADER_SIZE))
		owner = NULL;
	size_t olen = owner ? dname_length(owner, DNAME_MAXLEN) : 2;

	if (a->truncated)
		return false;
	if (olen == 0 || olen + 10 + rdlen > room(a)) {
		/* drop everything: a partial answer would look complete to the client */
		a->truncated = true;
		a->len = a->question_end;
		a->nttl = 0;
		memset(a->count, 0, sizeof(a->count));
		return false;
	}
	uint8_t *p = a->buf + a->len;
	if (owner) {
		memcpy(p, owner, olen);
	} else {
		p[0] = 0xc0;
		p[1] = LDNS_HEADER_SIZE;
	}
	p += olen;
	if (a->ttl_offsets && a->nttl < a->ttl_max)
		a->ttl_offsets[a->nttl++] = (uint16_t)(p + 4 - a->buf);
	ldns_write_uint16(p, type);
	ldns_write_uint16(p + 2, rrclass);
	ldns_write_uint32(p + 4, ttl);
	ldns_write_uint16(p + 8, rdlen);
	memcpy(p + 10, rdata, rdlen);
	a->len += olen + 10 + rdlen;
	a->count[s]++;
	return true;
}

size_t
answer_finish(struct answer *a)
{
	uint16_t arcount = a->count[SECTION_ADDITIONAL];

	if (a->truncated)
		LDNS_TC_SET(a->buf);
	if (a->edns && a->len + OPT_RR_LEN <= a->cap) {
		uint8_t *p = a->buf + a->len;
		p[0] = 0; /* root owner */
		ldns_write_uint16(p + 1, LDNS_RR_TYPE_OPT);
		ldns_write_uint16(p + 3, a->edns_size);
		/* TTL field: extended RCODE, version 0, the DO bit (RFC 6891 6.1.3) */
		ldns_write_uint32(p + 5, (uint32_t)a->edns_ext_rcode << 24 | (a->edns_do ? 0x00008000u : 0));
		ldns_write_uint16(p + 9, 0);
		a->len += OPT_RR_LEN;
		arcount++;
	}
	ldns_write_uint16(a->buf + 6, a->count[SECTION_ANSWER]);
	ldns_write_uint16(a->buf + 8, a->count[SECTION_AUTHORITY]);
	ldns_write_uint16(a->buf + 10, arcount);
	return a->len;
}
