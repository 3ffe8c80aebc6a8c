/*
 * tsig.h -- transaction signatures (TSIG, RFC 8945) on queries and answers.
 *
 * A query that ends with a TSIG record names a key; when the key is one of
 * the policy's and the MAC verifies, the key's domain is the requester,
 * whatever the source address (docs/identity.md). The answer is then signed
 * with the same key, the request's MAC included (RFC 8945 4.3.3). A bad
 * TSIG gets the error the RFC gives (5.2) and never a policy answer.
 *
 * The MAC is HMAC (RFC 2104) from OpenSSL; it is compared in constant time
 * (CRYPTO_memcmp). The wire format is read and written with ldns's helpers.
 * No function here allocates or keeps state between calls: any thread.
 */
#ifndef TSIG_H
#define TSIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "dname.h"

#include <openssl/evp.h>

/** The HMAC algorithms accepted (RFC 8945 6). hmac-md5 and hmac-sha1 are not. */
enum tsig_algorithm { TSIG_NONE = 0, TSIG_HMAC_SHA256, TSIG_HMAC_SHA384, TSIG_HMAC_SHA512 };

/** TSIG error codes (RFC 8945 3, the IANA DNS RCODE registry). */
#define TSIG_BADSIG 16
#define TSIG_BADKEY 17
#define TSIG_BADTIME 18
#define TSIG_BADTRUNC 22

/** Most bytes of a secret (base64 of it: 172 characters, the schema's limit). */
#define TSIG_SECRET_MAX 128
/** Most bytes of a MAC: the SHA-512 output. */
#define TSIG_MAC_MAX 64
/**
 * The fudge of our answers, and the most we accept from a query (seconds;
 * RFC 8945 10 recommends 300): a query signed further from our clock than
 * the smaller of its fudge and this is BADTIME.
 */
#define TSIG_FUDGE 300

/** The algorithm of a name such as "hmac-sha256" (any case, optional dot), or TSIG_NONE. */
enum tsig_algorithm tsig_algorithm_from_text(const char *name);
/** The algorithm a wire-format name in a TSIG record stands for, or TSIG_NONE. */
enum tsig_algorithm tsig_algorithm_from_wire(const uint8_t *wire);
/** "hmac-sha256" etc.; "" for TSIG_NONE. */
const char *tsig_algorithm_text(enum tsig_algorithm alg);
/** Bytes of the algorithm's full MAC (32, 48, 64); 0 for TSIG_NONE. */
size_t tsig_mac_size(enum tsig_algorithm alg);
/** OpenSSL's digest of the algorithm (static, not to be freed), or NULL for TSIG_NONE. */
const EVP_MD *tsig_algorithm_md(enum tsig_algorithm alg);
/** The algorithm's name in wire form into out (DNAME_MAXLEN bytes): one label and the root. Its length. */
size_t tsig_algorithm_wire(enum tsig_algorithm alg, uint8_t *out);

/** A key: its name (wire, lower case), algorithm and secret bytes. */
struct tsig_key {
	uint8_t name[DNAME_MAXLEN];
	enum tsig_algorithm algorithm;
	uint8_t secret[TSIG_SECRET_MAX];
	size_t secret_len;
};

/**
 * The TSIG record of a query, as tsig_parse() read it. Pointers go into the
 * message and live as long as it does.
 */
struct tsig_record {
	size_t start;                   /* offset of the record (its owner name) in the message */
	uint8_t key_name[DNAME_MAXLEN]; /* wire, lower case */
	uint8_t algorithm[DNAME_MAXLEN];/* wire, lower case */
	uint64_t time_signed;           /* seconds since the epoch, 48 bits */
	uint16_t fudge;                 /* seconds */
	const uint8_t *mac;
	uint16_t mac_len;
	uint16_t original_id, error;
	const uint8_t *other;
	uint16_t other_len;
};

/**
 * Read the TSIG record that starts at offset start of msg (len bytes): owner
 * (compression allowed, as some signers use it), TYPE TSIG, CLASS ANY, TTL 0
 * and its RDATA (the algorithm name uncompressed, RFC 3597 4), ending
 * exactly at len. 0, or -1 when malformed (the caller answers
 * FORMERR).
 */
int tsig_parse(const uint8_t *msg, size_t len, size_t start, struct tsig_record *t);

/**
 * What the verification of a query came to, and all the answer needs to be
 * signed with (a copy: it outlives the query's packet and the policy
 * snapshot the key came from).
 */
struct tsig_session {
	bool active;              /* the query had a TSIG record: the answer gets one */
	bool sign;                /* the answer is signed (false: BADKEY, BADSIG: unsigned) */
	uint16_t error;           /* 0 or TSIG_BAD* */
	uint16_t original_id;
	uint64_t time_signed;     /* the request's */
	struct tsig_key key;      /* for a signed answer */
	uint8_t key_name[DNAME_MAXLEN];  /* as the request named them (for errors too) */
	uint8_t algorithm[DNAME_MAXLEN];
	uint8_t request_mac[TSIG_MAC_MAX];
	uint16_t request_mac_len;
};

/**
 * Verify the query msg (len bytes, ending with the record t) with key (NULL:
 * the policy has no key of that name), at now (seconds since the epoch), in
 * the order of RFC 8945 5.2: the key and algorithm (BADKEY), the MAC size
 * (FORMERR when above the algorithm's or below max(10, half) bytes:
 * 5.2.2.1), the MAC (BADSIG), the time within the fudge, at most
 * TSIG_FUDGE (BADTIME), a truncated MAC (BADTRUNC: we accept full MACs only). Fills s for the
 * answer. Returns 0 when valid, an RCODE to answer otherwise: FORMERR, or
 * NOTAUTH with s->error set.
 */
int tsig_verify(const uint8_t *msg, size_t len, const struct tsig_record *t,
                const struct tsig_key *key, time_t now, struct tsig_session *s);

/** Bytes the TSIG record of the answer to s takes: to be kept free below the size limit. */
size_t tsig_answer_space(const struct tsig_session *s);

/**
 * Append the TSIG record of s to the finished answer msg (len bytes, room
 * for cap) and count it in ARCOUNT: signed with s->key over the request's
 * MAC, the answer with the request's original id and the TSIG variables
 * (RFC 8945 4.3.3; the client restores the original id before it checks,
 * so the answer verifies through a proxy that rewrote the id), at now; for
 * BADTIME with the request's time and ours as Other Data (5.2.3); unsigned
 * (MAC size 0) for BADKEY and BADSIG (5.3.2). Returns the new length, or 0
 * when it does not fit in cap or HMAC fails (the caller sends nothing).
 */
size_t tsig_sign_answer(uint8_t *msg, size_t len, size_t cap, const struct tsig_session *s,
                        time_t now);

/**
 * Sign a query msg (len bytes, room for cap) with key at now: append the
 * TSIG record, count it. Returns the new length, or 0 when it does not fit.
 * *mac (TSIG_MAC_MAX bytes, may be NULL) gets the MAC, *mac_len its size,
 * to check the answer with tsig_verify_answer(). For tests and clients.
 */
size_t tsig_sign_query(uint8_t *msg, size_t len, size_t cap, const struct tsig_key *key, time_t now,
                       uint8_t *mac, size_t *mac_len);

/**
 * Check a signed answer msg (len bytes, ending with the record t) to a
 * query signed with key whose MAC was request_mac. 0 when the MAC verifies,
 * -1 otherwise. For tests and clients.
 */
int tsig_verify_answer(const uint8_t *msg, size_t len, const struct tsig_record *t,
                       const struct tsig_key *key, const uint8_t *request_mac, size_t request_mac_len);

#endif
