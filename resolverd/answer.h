/*
 * answer.h -- writing DNS responses in wire format into a caller's buffer.
 *
 * Used for every answer resolverd makes itself (sink, own zone, errors), so
 * those never allocate. The owner name equal to the question name is written
 * as a compression pointer to it.
 */
#ifndef ANSWER_H
#define ANSWER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DNS_HEADER_LEN 12
#define DNS_FLAG_QR 0x8000
#define DNS_FLAG_AA 0x0400
#define DNS_FLAG_TC 0x0200
#define DNS_FLAG_RD 0x0100
#define DNS_FLAG_RA 0x0080
#define DNS_FLAG_AD 0x0020
#define DNS_FLAG_CD 0x0010

enum dns_section { SECTION_ANSWER, SECTION_AUTHORITY, SECTION_ADDITIONAL };

struct answer {
	uint8_t *buf;
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
 * Start a response: header from the query's id and the flags given, the
 * question copied (qname_len + 4 bytes at question). rcode in the low bits of
 * flags. limit caps the final size (TC=1 beyond it).
 */
void answer_start(struct answer *a, uint8_t *buf, size_t cap, size_t limit, uint16_t id,
                  uint16_t flags, const uint8_t *question, size_t question_len);

/**
 * Add one RR. owner NULL means the question name. When the RR does not fit
 * within the limit, the response is marked truncated and every RR is dropped
 * (TC=1, the client retries over TCP). Returns false once truncated.
 */
bool answer_add_rr(struct answer *a, enum dns_section s, const uint8_t *owner, uint16_t type,
                   uint16_t rrclass, uint32_t ttl, const uint8_t *rdata, uint16_t rdlen);

/** Write counts, TC and the OPT record; returns the final length. */
size_t answer_finish(struct answer *a);

/** Set the RCODE of a started answer. */
void answer_set_rcode(struct answer *a, uint8_t rcode);

#endif
