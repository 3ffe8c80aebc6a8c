/*
 * test_dname.c -- name handling: text/wire conversion, comparison, the XMPP
 * service labels that route a lookup to the policy.
 */
#include "config.h"
#include "dname.h"
#include "unit.h"

#include <string.h>

static void
test_from_text(void)
{
	uint8_t w[DNAME_MAXLEN];
	char t[256];

	CHECK_INT(dname_from_text("A.Example", w), 11, "A.Example is 11 wire bytes");
	CHECK(memcmp(w, "\001a\007example\000", 11) == 0, "wire is lower-cased");
	CHECK_INT(dname_from_text("a.example.", w), 11, "a trailing dot is accepted");
	CHECK_INT(dname_from_text(".", w), 1, "the root is one byte");
	CHECK_INT(dname_from_text("", w), 0, "empty text is refused");
	CHECK_INT(dname_from_text("a..b", w), 0, "an empty label is refused");
	CHECK_INT(dname_from_text(".a", w), 0, "a leading dot is refused");
	CHECK_INT(dname_from_text("a..", w), 0, "two trailing dots are refused");
	char label[70];
	memset(label, 'x', 64);
	label[64] = '\0';
	CHECK_INT(dname_from_text(label, w), 0, "a 64-byte label is refused");
	label[63] = '\0';
	CHECK_INT(dname_from_text(label, w), 65, "a 63-byte label is accepted");
	char longname[400] = "";
	for (int i = 0; i < 60; i++)
		strcat(longname, "abcd.");
	CHECK_INT(dname_from_text(longname, w), 0, "a name over 255 bytes is refused");
	dname_from_text("conference.A.test", w);
	CHECK(strcmp(dname_to_text(w, t, sizeof(t)), "conference.a.test") == 0,
	      "round trip to text without the trailing dot");
	CHECK(strcmp(dname_to_text((const uint8_t *)"", t, sizeof(t)), ".") == 0, "root prints as .");

	/* presentation format: a dot or backslash in a label, other bytes as \DDD */
	static const uint8_t odd[] = { 7, 'a', 'l', 'p', 'h', 'a', '.', 'x', 4, 't', 'e', 's', 't', 0 };
	char big[DNAME_TEXT_MAX];
	CHECK_STR(dname_to_text(odd, big, sizeof(big)), "alpha\\.x.test", "a dot inside a label is escaped");
	static const uint8_t bytes[] = { 4, 'a', ' ', '\\', 0xff, 0 };
	CHECK_STR(dname_to_text(bytes, big, sizeof(big)), "a\\032\\\\\\255", "space, backslash and 0xff escaped");
	uint8_t all[DNAME_MAXLEN];
	size_t o = 0;
	while (o + 64 < DNAME_MAXLEN) {
		all[o++] = 63;
		memset(all + o, 1, 63);
		o += 63;
	}
	all[o] = 0;
	CHECK(strlen(dname_to_text(all, big, sizeof(big))) < DNAME_TEXT_MAX,
	      "a name of escaped bytes only fits DNAME_TEXT_MAX");
	char small[10];
	dname_to_text(odd, small, sizeof(small));
	CHECK(strlen(small) < sizeof(small) && strncmp(small, "alpha\\.x", 8) == 0,
	      "a short buffer cuts the text at an escape boundary: %s", small);
}

static void
test_compare(void)
{
	uint8_t a[DNAME_MAXLEN], b[DNAME_MAXLEN], z[DNAME_MAXLEN];

	memcpy(a, "\001A\004TeSt\000", 8);
	dname_from_text("a.test", b);
	CHECK(dname_equal(a, b), "equality ignores case");
	dname_from_text("b.test", b);
	CHECK(!dname_equal(a, b), "different names differ");
	dname_from_text("test", z);
	CHECK(dname_is_below(a, z), "a.test is below test");
	CHECK(dname_is_below(z, z), "a name is below itself");
	dname_from_text("atest", b);
	CHECK(!dname_is_below(b, z), "atest is not below test (label boundary)");
	CHECK(!dname_is_below(z, a), "a parent is not below its child");
	CHECK_INT(dname_labels(a), 2, "a.test has two labels");
	CHECK(dname_equal(dname_skip(a, 1), z), "skipping one label of a.test gives test");
	CHECK_INT(dname_length(a, sizeof(a)), 8, "length of a valid name");
	CHECK_INT(dname_length((const uint8_t *)"\005ab", 3), 0, "a label running past the end is invalid");
	CHECK_INT(dname_length((const uint8_t *)"\300\014", 2), 0, "a compression pointer is not a plain name");
	dname_lower(a);
	CHECK(memcmp(a, "\001a\004test\000", 8) == 0, "dname_lower lower-cases in place");
}

static void
test_xmpp_service(void)
{
	uint8_t w[DNAME_MAXLEN], p[DNAME_MAXLEN];
	const uint8_t *rest = NULL;

	dname_from_text("b.test", p);
	dname_from_text("_xmpp-server._tcp.b.test", w);
	CHECK_INT(dname_xmpp_service(w, &rest), XMPP_SERVER, "_xmpp-server._tcp is the s2s service");
	CHECK(rest && dname_equal(rest, p), "the peer domain follows the two service labels");
	dname_from_text("_XMPPS-Server._TCP.b.test", w);
	CHECK_INT(dname_xmpp_service(w, &rest), XMPP_SERVER_TLS, "_xmpps-server in any case");
	dname_from_text("_jabber._tcp.b.test", w);
	CHECK_INT(dname_xmpp_service(w, &rest), XMPP_JABBER, "legacy _jabber._tcp");
	dname_from_text("_xmpp-client._tcp.b.test", w);
	CHECK_INT(dname_xmpp_service(w, &rest), XMPP_NONE, "client SRV is not a federation lookup");
	dname_from_text("_xmpp-server._udp.b.test", w);
	CHECK_INT(dname_xmpp_service(w, &rest), XMPP_NONE, "_udp is not the service");
	dname_from_text("_xmpp-server", w);
	CHECK_INT(dname_xmpp_service(w, &rest), XMPP_NONE, "the service label alone");
	dname_from_text("www.b.test", w);
	CHECK_INT(dname_xmpp_service(w, &rest), XMPP_NONE, "an ordinary name");
}

int
main(void)
{
	test_from_text();
	test_compare();
	test_xmpp_service();
	return unit_summary();
}
