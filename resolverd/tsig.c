/*
 * tsig.c -- TSIG (RFC 8945): reading the record of a query, verifying its
 * MAC, signing answers. See tsig.h.
 *
 * Every MAC is computed over one contiguous buffer (the digest components
 * of RFC 8945 4.3 laid end to end in a thread-local scratch buffer) with
 * OpenSSL's one-shot HMAC(): no context to allocate, keep or free.
 */
#include "config.h"

#include "tsig.h"

#include <string.h>
#include <strings.h>

#include <ldns/ldns.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

/* the TSIG variables at most: two names, class, TTL, time, fudge, error, other data */
#define VARIABLES_MAX (2 * DNAME_MAXLEN + 2 + 4 + 6 + 2 + 2 + 2 + 6)
/* a message, the request MAC before it and the variables after it */
static _Thread_local uint8_t scratch[2 + TSIG_MAC_MAX + 65535 + VARIABLES_MAX];

static const struct {
	enum tsig_algorithm alg;
	const char *name;
	size_t mac_size;
} algorithms[] = {
	{ TSIG_HMAC_SHA256, "hmac-sha256", 32 },
	{ TSIG_HMAC_SHA384, "hmac-sha384", 48 },
	{ TSIG_HMAC_SHA512, "hmac-sha512", 64 },
};

enum tsig_algorithm
tsig_algorithm_from_text(const char *name)
{
	size_t n = strlen(name);

	if (n > 0 && name[n - 1] == '.')
		n--;
	for (size_t i = 0; i < sizeof(algorithms) / sizeof(algorithms[0]); i++)
		if (strlen(algorithms[i].name) == n && strncasecmp(algorithms[i].name, name, n) == 0)
			return algorithms[i].alg;
	return TSIG_NONE;
}

enum tsig_algorithm
tsig_algorithm_from_wire(const uint8_t *wire)
{
	/* one label, then the root: "\x0bhmac-sha256\x00" */
	if (wire[0] == 0 || wire[0] > 63 || wire[1 + wire[0]] != 0)
		return TSIG_NONE;
	char text[64];
	memcpy(text, wire + 1, wire[0]);
	text[wire[0]] = '\0';
	return tsig_algorithm_from_text(text);
}

const char *
tsig_algorithm_text(enum tsig_algorithm alg)
{
	for (size_t i = 0; i < sizeof(algorithms) / sizeof(algorithms[0]); i++)
		if (algorithms[i].alg == alg)
			return algorithms[i].name;
	return "";
}

size_t
tsig_mac_size(enum tsig_algorithm alg)
{
	for (size_t i = 0; i < sizeof(algorithms) / sizeof(algorithms[0]); i++)
		if (algorithms[i].alg == alg)
			return algorithms[i].mac_size;
	return 0;
}

const EVP_MD *
tsig_algorithm_md(enum tsig_algorithm alg)
{
	switch (alg) {
	case TSIG_HMAC_SHA256:
		return EVP_sha256();
	case TSIG_HMAC_SHA384:
		return EVP_sha384();
	case TSIG_HMAC_SHA512:
		return EVP_sha512();
	default:
		return NULL;
	}
}

size_t
tsig_algorithm_wire(enum tsig_algorithm alg, uint8_t *out)
{
	const char *name = tsig_algorithm_text(alg);
	size_t n = strlen(name);

	out[0] = (uint8_t)n;
	memcpy(out + 1, name, n);
	out[1 + n] = 0;
	return n + 2;
}

static void
write_u48(uint8_t *p, uint64_t v)
{
	ldns_write_uint16(p, (uint16_t)(v >> 32));
	ldns_write_uint32(p + 2, (uint32_t)v);
}

static uint64_t
read_u48(const uint8_t *p)
{
	return (uint64_t)ldns_read_uint16(p) << 32 | ldns_read_uint32(p + 2);
}

int
tsig_parse(const uint8_t *msg, size_t len, size_t start, struct tsig_record *t)
{
	memset(t, 0, sizeof(*t));
	t->start = start;
	/* the owner may be compressed (some signers do, as for any owner name) */
	size_t o = start;
	ldns_rdf *owner = NULL;
	if (ldns_wire2dname(&owner, msg, len, &o) != LDNS_STATUS_OK)
		return -1;
	size_t n = ldns_rdf_size(owner);
	if (n > DNAME_MAXLEN) {
		ldns_rdf_deep_free(owner);
		return -1;
	}
	memcpy(t->key_name, ldns_rdf_data(owner), n);
	ldns_rdf_deep_free(owner);
	dname_lower(t->key_name);
	if (o + 10 > len || ldns_read_uint16(msg + o) != LDNS_RR_TYPE_TSIG ||
	    ldns_read_uint16(msg + o + 2) != LDNS_RR_CLASS_ANY || ldns_read_uint32(msg + o + 4) != 0)
		return -1;
	size_t rdlen = ldns_read_uint16(msg + o + 8);
	o += 10;
	if (o + rdlen != len)
		return -1; /* the last record: its RDATA ends the message */
	n = dname_length(msg + o, len - o);
	if (n == 0)
		return -1;
	memcpy(t->algorithm, msg + o, n);
	dname_lower(t->algorithm);
	o += n;
	if (o + 10 > len)
		return -1;
	t->time_signed = read_u48(msg + o);
	t->fudge = ldns_read_uint16(msg + o + 6);
	t->mac_len = ldns_read_uint16(msg + o + 8);
	o += 10;
	if (o + t->mac_len + 6 > len)
		return -1;
	t->mac = msg + o;
	o += t->mac_len;
	t->original_id = ldns_read_uint16(msg + o);
	t->error = ldns_read_uint16(msg + o + 2);
	t->other_len = ldns_read_uint16(msg + o + 4);
	o += 6;
	if (o + t->other_len != len)
		return -1;
	t->other = msg + o;
	return 0;
}

/*
 * The TSIG variables (RFC 8945 4.3.3) at out: key name and algorithm in
 * canonical (lower-case, uncompressed) form, class ANY, TTL 0, time, fudge,
 * error, other data. Returns their length.
 */
static size_t
put_variables(uint8_t *out, const uint8_t *key_name, const uint8_t *algorithm, uint64_t time_signed,
              uint16_t fudge, uint16_t error, const uint8_t *other, uint16_t other_len)
{
	size_t o = 0, n = dname_length(key_name, DNAME_MAXLEN);

	memcpy(out, key_name, n);
	o += n;
	ldns_write_uint16(out + o, LDNS_RR_CLASS_ANY);
	ldns_write_uint32(out + o + 2, 0);
	o += 6;
	n = dname_length(algorithm, DNAME_MAXLEN);
	memcpy(out + o, algorithm, n);
	o += n;
	write_u48(out + o, time_signed);
	ldns_write_uint16(out + o + 6, fudge);
	ldns_write_uint16(out + o + 8, error);
	ldns_write_uint16(out + o + 10, other_len);
	o += 12;
	if (other_len)
		memcpy(out + o, other, other_len);
	return o + other_len;
}

/* HMAC of scratch[0..n) with key into mac (TSIG_MAC_MAX bytes). Its size, or 0. */
static size_t
mac_of(const struct tsig_key *key, size_t n, uint8_t *mac)
{
	const EVP_MD *md = tsig_algorithm_md(key->algorithm);
	unsigned int maclen = 0;

	if (!md || !HMAC(md, key->secret, (int)key->secret_len, scratch, n, mac, &maclen))
		return 0;
	return maclen;
}

/*
 * Lay out the digest of a signed message in scratch: [the request MAC with
 * its size,] the message up to its TSIG record with the original id and
 * ARCOUNT less one, the record's variables. Returns the length, or 0 when
 * the message is too long.
 */
static size_t
digest_of_signed(const uint8_t *msg, const struct tsig_record *t, const uint8_t *request_mac,
                 size_t request_mac_len)
{
	size_t o = 0;

	if (t->start > 65535 || t->start < LDNS_HEADER_SIZE || request_mac_len > TSIG_MAC_MAX)
		return 0;
	if (request_mac) {
		ldns_write_uint16(scratch, (uint16_t)request_mac_len);
		memcpy(scratch + 2, request_mac, request_mac_len);
		o = 2 + request_mac_len;
	}
	memcpy(scratch + o, msg, t->start);
	ldns_write_uint16(scratch + o, t->original_id);
	ldns_write_uint16(scratch + o + 10, (uint16_t)(ldns_read_uint16(msg + 10) - 1));
	o += t->start;
	return o + put_variables(scratch + o, t->key_name, t->algorithm, t->time_signed, t->fudge,
	                         t->error, t->other, t->other_len);
}

int
tsig_verify(const uint8_t *msg, size_t len, const struct tsig_record *t,
            const struct tsig_key *key, time_t now, struct tsig_session *s)
{
	(void)len;
	memset(s, 0, sizeof(*s));
	s->active = true;
	s->original_id = t->original_id;
	s->time_signed = t->time_signed;
	memcpy(s->key_name, t->key_name, dname_length(t->key_name, DNAME_MAXLEN));
	memcpy(s->algorithm, t->algorithm, dname_length(t->algorithm, DNAME_MAXLEN));

	/* 5.2.1: a key we know, with the algorithm the request names */
	if (!key || tsig_algorithm_from_wire(t->algorithm) != key->algorithm) {
		s->error = TSIG_BADKEY;
		return LDNS_RCODE_NOTAUTH;
	}
	/* 5.2.2.1: no longer than the hash, no shorter than max(10, half of it) */
	size_t full = tsig_mac_size(key->algorithm), least = full / 2 > 10 ? full / 2 : 10;
	if (t->mac_len > full || t->mac_len < least) {
		s->active = false; /* FORMERR, unsigned: the message is malformed */
		return LDNS_RCODE_FORMERR;
	}
	/* 5.2.2: the MAC, compared in constant time */
	uint8_t mac[TSIG_MAC_MAX];
	size_t n = digest_of_signed(msg, t, NULL, 0);
	if (n == 0 || mac_of(key, n, mac) != full || CRYPTO_memcmp(mac, t->mac, t->mac_len) != 0) {
		s->error = TSIG_BADSIG;
		return LDNS_RCODE_NOTAUTH;
	}
	/* verified: the answer is signed from here on, errors too */
	s->sign = true;
	s->key = *key;
	memcpy(s->request_mac, t->mac, t->mac_len);
	s->request_mac_len = t->mac_len;
	/* 5.2.3: the time, within the request's fudge, and never beyond ours: a
	 * signer's fudge of hours would let a captured query be replayed for hours */
	uint64_t t_now = (uint64_t)now, fudge = t->fudge < TSIG_FUDGE ? t->fudge : TSIG_FUDGE;
	if ((t_now > t->time_signed ? t_now - t->time_signed : t->time_signed - t_now) > fudge) {
		s->error = TSIG_BADTIME;
		return LDNS_RCODE_NOTAUTH;
	}
	/* 5.2.4: a truncated MAC is below our minimum, the full length */
	if (t->mac_len < full) {
		s->error = TSIG_BADTRUNC;
		return LDNS_RCODE_NOTAUTH;
	}
	return 0;
}

size_t
tsig_answer_space(const struct tsig_session *s)
{
	if (!s->active)
		return 0;
	return dname_length(s->key_name, DNAME_MAXLEN) + 10 + dname_length(s->algorithm, DNAME_MAXLEN) +
	       16 + (s->sign ? tsig_mac_size(s->key.algorithm) : 0) + 6;
}

/*
 * Append a TSIG record to msg: owner key_name, RDATA algorithm, time, fudge,
 * mac, original id, error, other data; ARCOUNT + 1. New length, or 0.
 */
static size_t
append_record(uint8_t *msg, size_t len, size_t cap, const uint8_t *key_name,
              const uint8_t *algorithm, uint64_t time_signed, const uint8_t *mac, size_t mac_len,
              uint16_t original_id, uint16_t error, const uint8_t *other, uint16_t other_len)
{
	size_t kn = dname_length(key_name, DNAME_MAXLEN), an = dname_length(algorithm, DNAME_MAXLEN);
	size_t rdlen = an + 10 + mac_len + 6 + other_len, need = kn + 10 + rdlen;

	if (len + need > cap || rdlen > 65535)
		return 0;
	uint8_t *p = msg + len;
	memcpy(p, key_name, kn);
	p += kn;
	ldns_write_uint16(p, LDNS_RR_TYPE_TSIG);
	ldns_write_uint16(p + 2, LDNS_RR_CLASS_ANY);
	ldns_write_uint32(p + 4, 0);
	ldns_write_uint16(p + 8, (uint16_t)rdlen);
	p += 10;
	memcpy(p, algorithm, an);
	p += an;
	write_u48(p, time_signed);
	ldns_write_uint16(p + 6, TSIG_FUDGE);
	ldns_write_uint16(p + 8, (uint16_t)mac_len);
	p += 10;
	if (mac_len)
		memcpy(p, mac, mac_len);
	p += mac_len;
	ldns_write_uint16(p, original_id);
	ldns_write_uint16(p + 2, error);
	ldns_write_uint16(p + 4, other_len);
	p += 6;
	if (other_len)
		memcpy(p, other, other_len);
	ldns_write_uint16(msg + 10, (uint16_t)(ldns_read_uint16(msg + 10) + 1));
	return len + need;
}

size_t
tsig_sign_answer(uint8_t *msg, size_t len, size_t cap, const struct tsig_session *s, time_t now)
{
	uint8_t other[6], mac[TSIG_MAC_MAX];
	uint16_t other_len = 0;
	uint64_t when = (uint64_t)now;
	size_t maclen = 0;

	if (!s->active)
		return len;
	if (s->error == TSIG_BADTIME) {
		/* 5.2.3: the request's time, and ours for the client to see */
		write_u48(other, (uint64_t)now);
		other_len = 6;
		when = s->time_signed;
	}
	if (s->sign) {
		if (len > 65535)
			return 0;
		size_t o = 2 + s->request_mac_len;
		ldns_write_uint16(scratch, s->request_mac_len);
		memcpy(scratch + 2, s->request_mac, s->request_mac_len);
		memcpy(scratch + o, msg, len);
		/* the MAC covers the original id: a middlebox may have changed the id in
		 * transit, and the client puts the original back before it checks */
		ldns_write_uint16(scratch + o, s->original_id);
		o += len;
		uint8_t alg[DNAME_MAXLEN];
		tsig_algorithm_wire(s->key.algorithm, alg);
		o += put_variables(scratch + o, s->key.name, alg, when, TSIG_FUDGE, s->error, other,
		                   other_len);
		maclen = mac_of(&s->key, o, mac);
		if (maclen == 0)
			return 0;
	}
	return append_record(msg, len, cap, s->key_name, s->algorithm, when, mac, maclen,
	                     s->original_id, s->error, other, other_len);
}

size_t
tsig_sign_query(uint8_t *msg, size_t len, size_t cap, const struct tsig_key *key, time_t now,
                uint8_t *mac_out, size_t *mac_len)
{
	uint8_t alg[DNAME_MAXLEN], mac[TSIG_MAC_MAX];

	if (len > 65535 || len < LDNS_HEADER_SIZE)
		return 0;
	tsig_algorithm_wire(key->algorithm, alg);
	memcpy(scratch, msg, len);
	size_t o = len + put_variables(scratch + len, key->name, alg, (uint64_t)now, TSIG_FUDGE, 0, NULL, 0);
	size_t n = mac_of(key, o, mac);
	if (n == 0)
		return 0;
	if (mac_out)
		memcpy(mac_out, mac, n);
	if (mac_len)
		*mac_len = n;
	return append_record(msg, len, cap, key->name, alg, (uint64_t)now, mac, n,
	                     ldns_read_uint16(msg), 0, NULL, 0);
}

int
tsig_verify_answer(const uint8_t *msg, size_t len, const struct tsig_record *t,
                   const struct tsig_key *key, const uint8_t *request_mac, size_t request_mac_len)
{
	uint8_t mac[TSIG_MAC_MAX];
	size_t full = tsig_mac_size(key->algorithm);

	(void)len;
	if (t->mac_len != full || !dname_equal(t->key_name, key->name) ||
	    tsig_algorithm_from_wire(t->algorithm) != key->algorithm)
		return -1;
	size_t n = digest_of_signed(msg, t, request_mac, request_mac_len);
	if (n == 0 || mac_of(key, n, mac) != full || CRYPTO_memcmp(mac, t->mac, full) != 0)
		return -1;
	return 0;
}
