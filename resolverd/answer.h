/*
 * answer.h -- writing DNS responses in wire format into a caller's buffer.
 *
 * Used for every answer resolverd sends, so that none allocates. The owner
 * name equal to the question name is written as a compression pointer to it.
 * Header flags are set on a->buf with ldns's macros (LDNS_RD_SET(a->buf),
 * LDNS_AD_SET, ...). Any thread, one answer per thread at a time.
 */
#ifndef ANSWER_H
#define ANSWER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum dns_section { SECTION_ANSWER, SECTION_AUTHORITY, SECTION_ADDITIONAL };

struct answer {
	uint8_t *buf;      /* the caller's; the answer is written here */
	size_t cap;        /* the buffer's size */
	size_t limit;      /* the most the client accepts (UDP: EDNS size or 512) */
	size_t len;
	size_t question_end;
	uint16_t count[3];
	bool truncated;
	/* EDNS of the response: present when the query had it */
	bool edns;
	bool edns_do;
	uint16_t edns_size;
	uint8_t edns_ext_rcode;  /* upper 8 bits of a 12-bit RCODE (BADVERS = 16 -> 1) */
	/* optional: where each RR's TTL was written (for the answer cache) */
	uint16_t *ttl_offsets;
	size_t nttl, ttl_max;
};

/**
 * Start a response in buf (cap bytes, at least LDNS_HEADER_SIZE): the
 * query's id, QR set, every other flag and the RCODE 0, and the question
 * copied (question_len bytes: name, type, class; 0 for none). limit (bytes)
 * caps the final size: beyond it the answer is truncated (TC=1).
 */
void answer_start(struct answer *a, uint8_t *buf, size_t cap, size_t limit, uint16_t id,
                  const uint8_t *question, size_t question_len);

/**
 * Add one RR. owner NULL, or a name equal to the question's (any case),
 * is written as a pointer to the question name. When the RR does not fit
 * within the limit, the response is marked truncated and every RR is dropped
 * (TC=1, the client retries over TCP). Returns false once truncated.
 */
bool answer_add_rr(struct answer *a, enum dns_section s, const uint8_t *owner, uint16_t type,
                   uint16_t rrclass, uint32_t ttl, const uint8_t *rdata, uint16_t rdlen);

/** Write counts, TC and the OPT record (RFC 6891); returns the final length in bytes. */
size_t answer_finish(struct answer *a);

/** Set the RCODE (low 4 bits; the upper 8 go in edns_ext_rcode) of a started answer. */
void answer_set_rcode(struct answer *a, uint8_t rcode);

#endif
