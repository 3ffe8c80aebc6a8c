/*
 * sink.h -- the listener sink: resolverd accepts the s2s stream a denied
 * server opens to the sink address and closes it with the standard XMPP
 * policy-violation stream error, naming the denied pair, so the sender sees a
 * clear error at once instead of a timeout.
 */
#ifndef SINK_H
#define SINK_H

#include <stddef.h>

struct event_base;
struct options;
struct policy;
struct sink;

/**
 * Listen on every sink-listen address, on base (main's loop). *policy is
 * read at each stream to name the requester: the snapshot main serves, a
 * pointer main swaps on its own thread. NULL with a message in err.
 */
struct sink *sink_new(struct event_base *base, struct policy *const *policy,
                      const struct options *opt, char *err, size_t errlen);
void sink_free(struct sink *s);

/**
 * Build the server's reply to an opening stream header: our stream header
 * and the policy-violation error naming requester -> peer. header is what the
 * peer sent (up to its first '>' after "<stream:stream"); requester may be
 * NULL. Returns the length written into out (always NUL-terminated).
 */
size_t sink_stream_error(const char *header, size_t len, const char *requester, char *out,
                         size_t outlen);

#endif
