/*
 * test_tsig.c -- TSIG (RFC 8945): a query signed by tsig_sign_query verifies
 * and every change to it fails the way the RFC says; answers signed by
 * tsig_sign_answer verify over the request's MAC and take no more room than
 * tsig_answer_space promised; a known MAC computed independently (Python's
 * hmac over the RFC 8945 4.3.3 digest) matches. The policy finds keys and
 * certificate names by kind and name, in any case.
 */
#include "config.h"
#include "dname.h"
#include "policy.h"
#include "tsig.h"
#include "unit.h"

#include <string.h>

#include <ldns/ldns.h>

/* a query for a.test A, id 0x1234, RD */
static size_t
make_query(uint8_t *buf)
{
	static const uint8_t q[] = { 0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0,
	                             1, 'a', 4, 't', 'e', 's', 't', 0, 0, 1, 0, 1 };
	memcpy(buf, q, sizeof(q));
	return sizeof(q);
}

static void
make_key(struct tsig_key *k, const char *name, enum tsig_algorithm alg)
{
	memset(k, 0, sizeof(*k));
	dname_from_text(name, k->name);
	k->algorithm = alg;
	for (size_t i = 0; i < 32; i++)
		k->secret[i] = (uint8_t)i;
	k->secret_len = 32;
}

/* sign, parse, verify: returns the verification's RCODE, s filled */
static int
verify_signed(uint8_t *msg, size_t len, const struct tsig_key *signer, const struct tsig_key *known,
              time_t now, struct tsig_session *s, struct tsig_record *t)
{
	size_t start = len;
	size_t n = tsig_sign_query(msg, len, 512, signer, 1700000000, NULL, NULL);
	if (n == 0 || tsig_parse(msg, n, start, t) != 0)
		return -1;
	return tsig_verify(msg, n, t, known, now, s);
}

static void
test_round_trip(void)
{
	uint8_t msg[512];
	struct tsig_key k, other;
	struct tsig_session s;
	struct tsig_record t;

	make_key(&k, "k.test", TSIG_HMAC_SHA256);
	CHECK_INT(verify_signed(msg, make_query(msg), &k, &k, 1700000000, &s, &t), 0,
	          "a signed query verifies");
	CHECK(s.active && s.sign && s.error == 0, "... the answer will be signed");
	CHECK_INT(t.mac_len, 32, "... with a full hmac-sha256 MAC");
	CHECK_INT(t.original_id, 0x1234, "... and the query's id as original id");
	CHECK_INT(verify_signed(msg, make_query(msg), &k, &k, 1700000000 + 300, &s, &t), 0,
	          "300 s later (the fudge) still verifies");
	CHECK_INT(verify_signed(msg, make_query(msg), &k, &k, 1700000000 + 301, &s, &t),
	          LDNS_RCODE_NOTAUTH, "301 s later: NOTAUTH");
	CHECK(s.error == TSIG_BADTIME && s.sign, "... BADTIME, signed");
	CHECK_INT(verify_signed(msg, make_query(msg), &k, &k, 1700000000 - 301, &s, &t),
	          LDNS_RCODE_NOTAUTH, "301 s early: NOTAUTH BADTIME too");
	CHECK_INT(verify_signed(msg, make_query(msg), &k, NULL, 1700000000, &s, &t), LDNS_RCODE_NOTAUTH,
	          "an unknown key: NOTAUTH");
	CHECK(s.error == TSIG_BADKEY && !s.sign && s.active, "... BADKEY, unsigned");
	other = k;
	other.secret[0] ^= 1;
	CHECK_INT(verify_signed(msg, make_query(msg), &k, &other, 1700000000, &s, &t), LDNS_RCODE_NOTAUTH,
	          "another secret: NOTAUTH");
	CHECK(s.error == TSIG_BADSIG && !s.sign, "... BADSIG, unsigned");
	other = k;
	other.algorithm = TSIG_HMAC_SHA512;
	CHECK_INT(verify_signed(msg, make_query(msg), &k, &other, 1700000000, &s, &t), LDNS_RCODE_NOTAUTH,
	          "the key with another algorithm: NOTAUTH");
	CHECK(s.error == TSIG_BADKEY, "... BADKEY");

	/* a changed byte of the signed message */
	size_t len = make_query(msg), start = len;
	size_t n = tsig_sign_query(msg, len, sizeof(msg), &k, 1700000000, NULL, NULL);
	msg[start - 3] ^= 1; /* the question's type */
	CHECK(tsig_parse(msg, n, start, &t) == 0 && tsig_verify(msg, n, &t, &k, 1700000000, &s) ==
	      LDNS_RCODE_NOTAUTH && s.error == TSIG_BADSIG, "a changed question: BADSIG");
	/* the id may change in transit (original id), nothing else */
	n = tsig_sign_query(msg, make_query(msg), sizeof(msg), &k, 1700000000, NULL, NULL);
	msg[0] = 0x77;
	CHECK(tsig_parse(msg, n, start, &t) == 0 && tsig_verify(msg, n, &t, &k, 1700000000, &s) == 0,
	      "a changed message id still verifies (original id)");
}

static void
test_truncation_and_format(void)
{
	uint8_t msg[512];
	struct tsig_key k;
	struct tsig_session s;
	struct tsig_record t;

	make_key(&k, "k.test", TSIG_HMAC_SHA256);
	size_t len = make_query(msg), start = len;
	size_t n = tsig_sign_query(msg, len, sizeof(msg), &k, 1700000000, NULL, NULL);
	CHECK_INT(tsig_parse(msg, n - 1, start, &t), -1, "a record cut short does not parse");
	CHECK_INT(tsig_parse(msg, n, start + 1, &t), -1, "a record read from the wrong place does not parse");
	uint8_t bad[512];
	memcpy(bad, msg, n);
	bad[start + 8 + 3] = 0; /* the class: ANY -> 0 */
	CHECK_INT(tsig_parse(bad, n, start, &t), -1, "a TSIG of another class does not parse");
	CHECK_INT(tsig_parse(msg, n, start, &t), 0, "the signed query parses");
	/* a MAC cut to 16 bytes (half of hmac-sha256): legal, below our minimum */
	t.mac_len = 16;
	CHECK_INT(tsig_verify(msg, n, &t, &k, 1700000000, &s), LDNS_RCODE_NOTAUTH, "half a MAC: NOTAUTH");
	CHECK(s.error == TSIG_BADTRUNC && s.sign, "... BADTRUNC, signed");
	t.mac_len = 15;
	CHECK_INT(tsig_verify(msg, n, &t, &k, 1700000000, &s), LDNS_RCODE_FORMERR,
	          "less than half a MAC: FORMERR (RFC 8945 5.2.2.1)");
	CHECK(!s.active, "... answered without TSIG");
	t.mac_len = 33;
	CHECK_INT(tsig_verify(msg, n, &t, &k, 1700000000, &s), LDNS_RCODE_FORMERR,
	          "a MAC longer than the hash: FORMERR");
}

static void
test_answer(void)
{
	uint8_t msg[512], mac[TSIG_MAC_MAX], ans[512];
	size_t maclen = 0;
	struct tsig_key k;
	struct tsig_session s;
	struct tsig_record t, at;

	make_key(&k, "Key.Test", TSIG_HMAC_SHA512);
	size_t len = make_query(msg), start = len;
	size_t n = tsig_sign_query(msg, len, sizeof(msg), &k, 1700000000, mac, &maclen);
	CHECK_INT(maclen, 64, "hmac-sha512: a 64-byte MAC");
	CHECK(tsig_parse(msg, n, start, &t) == 0 && tsig_verify(msg, n, &t, &k, 1700000000, &s) == 0,
	      "the query verifies");
	/* the answer: the query with QR set */
	memcpy(ans, msg, start);
	ans[2] |= 0x80;
	ldns_write_uint16(ans + 10, 0);
	size_t alen = tsig_sign_answer(ans, start, sizeof(ans), &s, 1700000001);
	CHECK(alen > start && alen <= start + tsig_answer_space(&s), "the answer grew by at most the room promised");
	CHECK_INT(ldns_read_uint16(ans + 10), 1, "ARCOUNT counts the TSIG");
	CHECK(tsig_parse(ans, alen, start, &at) == 0, "the answer's TSIG parses");
	CHECK_INT(tsig_verify_answer(ans, alen, &at, &k, mac, maclen), 0,
	          "the answer verifies over the request's MAC");
	/* a proxy changed the id of the query in transit: the answer carries that id */
	memcpy(ans, msg, start);
	ans[2] |= 0x80;
	ldns_write_uint16(ans, 0x7777);
	ldns_write_uint16(ans + 10, 0);
	size_t plen = tsig_sign_answer(ans, start, sizeof(ans), &s, 1700000001);
	CHECK(plen > 0 && tsig_parse(ans, plen, start, &at) == 0 &&
	      tsig_verify_answer(ans, plen, &at, &k, mac, maclen) == 0,
	      "an answer whose id was changed verifies with the original id restored");
	memcpy(ans, msg, start);
	ans[2] |= 0x80;
	ldns_write_uint16(ans + 10, 0);
	alen = tsig_sign_answer(ans, start, sizeof(ans), &s, 1700000001);
	tsig_parse(ans, alen, start, &at);
	uint8_t wrong[TSIG_MAC_MAX];
	memcpy(wrong, mac, maclen);
	wrong[5] ^= 1;
	CHECK_INT(tsig_verify_answer(ans, alen, &at, &k, wrong, maclen), -1,
	          "... and not over another request MAC");
	CHECK_INT(tsig_sign_answer(ans, start, start + 20, &s, 1700000001), 0,
	          "no room for the TSIG: nothing is written");

	/* BADTIME: the request's time, ours as other data, signed */
	CHECK(tsig_verify(msg, n, &t, &k, 1700001000, &s) == LDNS_RCODE_NOTAUTH && s.error == TSIG_BADTIME,
	      "1000 s later: BADTIME");
	alen = tsig_sign_answer(ans, start, sizeof(ans), &s, 1700001000);
	CHECK(alen > 0 && tsig_parse(ans, alen, start, &at) == 0, "the BADTIME answer parses");
	CHECK(at.time_signed == 1700000000 && at.other_len == 6 && at.error == TSIG_BADTIME,
	      "... with the request's time and ours (6 bytes) as other data");
	CHECK_INT(tsig_verify_answer(ans, alen, &at, &k, mac, maclen), 0, "... signed");

	/* BADKEY: unsigned */
	CHECK(tsig_verify(msg, n, &t, NULL, 1700000000, &s) == LDNS_RCODE_NOTAUTH, "BADKEY");
	alen = tsig_sign_answer(ans, start, sizeof(ans), &s, 1700000000);
	CHECK(alen > 0 && tsig_parse(ans, alen, start, &at) == 0 && at.mac_len == 0 &&
	      at.error == TSIG_BADKEY, "the BADKEY answer carries an empty MAC");
	CHECK(dname_equal(at.key_name, k.name), "... and the key's name");
}

/*
 * A known answer: the MAC of the test query above (id 0x1234), key "k.test",
 * hmac-sha256, secret bytes 0..31, time 1700000000, fudge 300, computed with
 * Python's hmac over the digest of RFC 8945 4.3.3:
 *   hmac.new(bytes(range(32)), query + b"\x01k\x04test\x00" + b"\x00\xff" +
 *            b"\x00" * 4 + b"\x0bhmac-sha256\x00" + (1700000000).to_bytes(6, "big") +
 *            (300).to_bytes(2, "big") + b"\x00" * 4, hashlib.sha256).hexdigest()
 */
static void
test_known_mac(void)
{
	static const char expected[] = "2d1ecf801cb46b72213524c1d332581b79dadd564df003286b5418acdcfd92bf";
	uint8_t msg[512], mac[TSIG_MAC_MAX];
	size_t maclen = 0;
	struct tsig_key k;
	char hex[2 * TSIG_MAC_MAX + 1];

	make_key(&k, "k.test", TSIG_HMAC_SHA256);
	tsig_sign_query(msg, make_query(msg), sizeof(msg), &k, 1700000000, mac, &maclen);
	for (size_t i = 0; i < maclen; i++)
		snprintf(hex + 2 * i, 3, "%02x", mac[i]);
	hex[2 * maclen] = '\0';
	CHECK_STR(hex, expected, "the MAC equals one computed independently");
}

static void
test_policy_keys(void)
{
	struct policy *p = policy_new(1);
	uint8_t name[DNAME_MAXLEN], secret[16] = { 1, 2, 3 };

	uint32_t a = policy_add_domain(p, "a.test", 0, true);
	uint32_t b = policy_add_domain(p, "b.test", 0, true);
	dname_from_text("A-Key.Test", name);
	CHECK_INT(policy_add_key(p, POLICY_KEY_TSIG, name, a, TSIG_HMAC_SHA256, secret, 16), 0, "add a TSIG key");
	dname_from_text("xmpp.b-site.test", name);
	CHECK_INT(policy_add_key(p, POLICY_KEY_CERT, name, b, 0, NULL, 0), 0, "add a certificate name");
	CHECK_INT(policy_add_key(p, POLICY_KEY_TSIG, name, b, TSIG_HMAC_SHA256, NULL, 0), -1,
	          "a TSIG key without a secret is refused");
	CHECK_INT(policy_set_domain_require(p, b, POLICY_ID_TSIG), 0, "b.test requires TSIG");
	CHECK_INT(policy_finish(p), 0, "finish");
	dname_from_text("a-key.TEST", name);
	const struct policy_key *k = policy_find_key(p, POLICY_KEY_TSIG, name);
	CHECK(k && k->domain == a && k->secret_len == 16 && k->secret[2] == 3, "the key is found in any case");
	CHECK(policy_find_key(p, POLICY_KEY_CERT, name) == NULL, "... not as a certificate name");
	dname_from_text("xmpp.b-site.test", name);
	k = policy_find_key(p, POLICY_KEY_CERT, name);
	CHECK(k && k->domain == b, "the certificate name is found");
	CHECK_INT(p->domains[b].require, POLICY_ID_TSIG, "b.test's required identity");
	CHECK_INT(p->domains[a].require, POLICY_ID_SOURCE, "a.test's default");
	struct policy *d = policy_derive(p, 2);
	CHECK(d && policy_finish(d) == 0 && policy_find_key(d, POLICY_KEY_CERT, name) != NULL,
	      "a derived snapshot shares the keys");
	policy_free(d);
	policy_free(p);
}

int
main(void)
{
	CHECK_INT(tsig_algorithm_from_text("HMAC-SHA256."), TSIG_HMAC_SHA256, "algorithm names in any case");
	CHECK_INT(tsig_algorithm_from_text("hmac-sha1"), TSIG_NONE, "hmac-sha1 is not accepted");
	CHECK_INT(tsig_algorithm_from_text("hmac-md5.sig-alg.reg.int"), TSIG_NONE, "hmac-md5 is not accepted");
	test_round_trip();
	test_truncation_and_format();
	test_answer();
	test_known_mac();
	test_policy_keys();
	return unit_summary();
}
