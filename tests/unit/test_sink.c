/*
 * test_sink.c -- the listener sink's stream error: names the denied pair,
 * opens our stream first, and never echoes markup from the peer.
 */
#include "config.h"
#include "sink.h"
#include "unit.h"

#include <string.h>

int
main(void)
{
	char out[2048];
	const char *hdr = "<stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams'"
	                  " from='a.test' to='c.test' version='1.0'";
	size_t n = sink_stream_error(hdr, strlen(hdr), "a.test", out, sizeof(out));

	CHECK(n == strlen(out) && n > 0, "the reply length is the string length");
	CHECK(strncmp(out, "<?xml version='1.0'?><stream:stream ", 36) == 0, "our stream header comes first");
	CHECK(strstr(out, " from='c.test'") != NULL, "our stream is from the domain that was asked for");
	CHECK(strstr(out, "<policy-violation xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>") != NULL,
	      "the policy-violation condition");
	CHECK(strstr(out, "from a.test to c.test is denied") != NULL, "the text names the denied pair");
	CHECK(strstr(out, "</stream:error></stream:stream>") != NULL, "the stream is closed");

	hdr = "<stream:stream from=\"b.test\" to=\"x.test'/><evil a='\" version='1.0'";
	sink_stream_error(hdr, strlen(hdr), NULL, out, sizeof(out));
	CHECK(strstr(out, "<evil") == NULL && strstr(out, "a='") == NULL,
	      "markup in the peer's header is not echoed");
	CHECK(strstr(out, "from b.test to") != NULL, "an unidentified requester is named by its stream's from");
	CHECK(strchr(out + 40, '"') == NULL, "no double quote from the peer reaches the reply");

	sink_stream_error("", 0, NULL, out, sizeof(out));
	CHECK(strstr(out, "an unidentified server") != NULL && strstr(out, "policy-violation") != NULL,
	      "garbage without a header still gets the error");
	n = sink_stream_error(hdr, strlen(hdr), "a.test", out, 64);
	CHECK(n == 63 && out[63] == '\0', "a short buffer truncates safely");
	return unit_summary();
}
