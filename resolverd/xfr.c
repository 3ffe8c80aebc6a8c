/*
 * xfr.c -- the site side of policy distribution: zone transfers with TSIG,
 * checked, built into a new database, copied into the live one.
 *
 * The transfer is done here over one TCP connection with ldns building and
 * parsing the messages: ldns_axfr_next() neither sends an IXFR nor checks
 * the TSIG of the messages it reads, and ldns_pkt_tsig_verify_next() cannot
 * check a message that follows unsigned ones (RFC 8945 5.3.1 lets a server
 * sign only every hundredth; NSD does), so the MACs are computed here with
 * OpenSSL over exactly what RFC 8945 says: the previous MAC, the unsigned
 * messages since, the signed one without its TSIG record, then the TSIG
 * variables (all of them for the first message, the timers after).
 */
#include "config.h"
#include "xfr.h"
#include "log.h"
#include "options.h"
#include "dname.h"
#include "netaddr.h"
#include "policydb.h"
#include "policyzone.h"
#include "statusfile.h"
#include "tsig.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <ldns/ldns.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sqlite3.h>

#define XFR_TIMEOUT_MS 30000       /* one whole transfer */
#define XFR_CONNECT_MS 3000
#define XFR_MAX_UNSIGNED 99        /* RFC 8945 5.3.1 */
#define XFR_FUDGE 300
#define XFR_DEFAULT_RETRY 10       /* s, before a zone gave its SOA retry */
#define XFR_LOG_REPEAT_S 60        /* the same error is logged again after this */
#define XFR_NOTIFY_MIN_MS 100      /* between two checks, whatever NOTIFYs say */
#define XFR_LONE_SOA_MS 1000       /* after a lone SOA of another serial: does more follow? */

/* The transfer key: tsig.h's (name, algorithm, secret) and the forms ldns signs with. */
struct xfr_key {
	char name[256];            /* presentation, trailing dot */
	uint8_t name_wire[DNAME_MAXLEN];
	size_t name_len;
	char alg[64];              /* as ldns wants it: "hmac-sha256." */
	uint8_t alg_wire[DNAME_MAXLEN];
	size_t alg_len;
	const EVP_MD *md;
	uint8_t secret[TSIG_SECRET_MAX + 3];
	int secret_len;
	char b64[400];
};

struct xfr {
	char *apex;                /* no trailing dot, lower case */
	char *database, *tmp_path, *status_path, *status_tmp;
	const char *schema_sql;    /* dbtools/schema.sql, the caller's */
	char server_text[96];
	struct sockaddr_storage server;
	socklen_t server_len;
	struct xfr_key key;
	int refresh_s;
	/* the zone held (every record, the SOA once), its serial and timers */
	ldns_rr_list *zone;
	int64_t serial;
	uint32_t soa_refresh, soa_retry;
	bool force_axfr;           /* the last IXFR did not apply or check out: the whole zone next */
	/* the thread */
	pthread_t thread;
	bool started;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop;
	bool woken;                /* a NOTIFY came: check now */
	uint8_t apex_wire[DNAME_MAXLEN];
	struct netaddr server_addr;
	/* what xfr_stats reads */
	struct xfr_stats st;
	/* the status file and log back-off (the thread's) */
	char last_error[512];
	time_t last_error_at, logged_at, status_at;
	char last_kind[16];
	bool status_warned;
};

/* ------------------------------------------------------------ config */

/* name, algorithm and base64 secret into k; -1 with err set. */
static int
key_set(struct xfr_key *k, const char *name, const char *alg, const char *b64, char *err, size_t errlen)
{
	/* the algorithms resolverd takes for any TSIG key (tsig.h): no hmac-md5, no hmac-sha1 */
	enum tsig_algorithm a = tsig_algorithm_from_text(alg);

	memset(k, 0, sizeof(*k));
	if (a == TSIG_NONE) {
		snprintf(err, errlen, "TSIG algorithm '%s' is not one of hmac-sha256, hmac-sha384, "
		         "hmac-sha512", alg);
		return -1;
	}
	k->md = tsig_algorithm_md(a);
	snprintf(k->alg, sizeof(k->alg), "%s.", tsig_algorithm_text(a));
	k->alg_len = tsig_algorithm_wire(a, k->alg_wire);
	snprintf(k->name, sizeof(k->name), "%s%s", name, name[0] && name[strlen(name) - 1] == '.' ? "" : ".");
	for (char *c = k->name; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	k->name_len = dname_from_text(k->name, k->name_wire);
	if (!name[0] || k->name_len == 0) {
		snprintf(err, errlen, "TSIG key name '%s' is not a domain name", name);
		return -1;
	}
	k->secret_len = strlen(b64) < sizeof(k->b64) ? policydb_base64_decode(b64, k->secret, sizeof(k->secret)) : -1;
	if (k->secret_len <= 0 || k->secret_len > TSIG_SECRET_MAX) {
		snprintf(err, errlen, "TSIG secret of %s is not base64 of 1 to %d bytes", name, TSIG_SECRET_MAX);
		return -1;
	}
	snprintf(k->b64, sizeof(k->b64), "%s", b64);
	return 0;
}

/*
 * A key file: BIND's and Knot's key syntax, read leniently as words:
 * key "NAME" { algorithm ALG; secret "B64"; }; or Knot's YAML
 * (- id: NAME / algorithm: ALG / secret: B64).
 */
static int
key_file(struct xfr_key *k, const char *path, char *err, size_t errlen)
{
	char buf[4096], name[256] = "", alg[64] = "", secret[400] = "";
	FILE *f = fopen(path, "r");

	if (!f) {
		snprintf(err, errlen, "TSIG key file %s: %s", path, strerror(errno));
		return -1;
	}
	struct stat sb;
	if (fstat(fileno(f), &sb) == 0 && (sb.st_mode & S_IROTH))
		log_warn("TSIG key file %s is readable by every user: whoever reads it can feed sites a "
		         "policy (chmod o-rwx %s)", path, path);
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	for (char *c = buf; *c; c++)
		if (*c == '"' || *c == ';' || *c == '{' || *c == '}' || *c == '#')
			*c = *c == '#' ? '#' : ' ';
	/* a comment runs to the end of its line */
	for (char *c = strchr(buf, '#'); c; c = strchr(c, '#'))
		while (*c && *c != '\n')
			*c++ = ' ';
	char *save = NULL, *prev = NULL;
	for (char *w = strtok_r(buf, " \t\r\n", &save); w; prev = w, w = strtok_r(NULL, " \t\r\n", &save)) {
		if (!prev)
			continue;
		if (strcmp(prev, "key") == 0 || strcmp(prev, "id:") == 0)
			snprintf(name, sizeof(name), "%s", w);
		else if (strcmp(prev, "algorithm") == 0 || strcmp(prev, "algorithm:") == 0)
			snprintf(alg, sizeof(alg), "%s", w);
		else if (strcmp(prev, "secret") == 0 || strcmp(prev, "secret:") == 0)
			snprintf(secret, sizeof(secret), "%s", w);
	}
	if (!name[0] || !alg[0] || !secret[0]) {
		snprintf(err, errlen, "TSIG key file %s: no key NAME, algorithm and secret found", path);
		return -1;
	}
	return key_set(k, name, alg, secret, err, errlen);
}

/* "xfr ADDR[@PORT] KEY" into the server address and the key (a key file is read only if read_file). */
static int
parse_source(const char *source, struct sockaddr_storage *ss, socklen_t *sslen, char *text,
             size_t textlen, struct xfr_key *k, bool read_file, char *err, size_t errlen)
{
	char kind[16], addr[96], key[1024];
	int n = 0;

	if (sscanf(source, "%15s %95s %1023s %n", kind, addr, key, &n) != 3 || source[n] != '\0' ||
	    strcmp(kind, "xfr") != 0) {
		snprintf(err, errlen, "policy-source: '%s' is not 'xfr ADDR[@PORT] KEY'", source);
		return -1;
	}
	int rc = options_parse_addr_port(addr, ss, sslen);
	if (rc != 0) {
		snprintf(err, errlen, rc == -2 ? "policy-source: '%s': the port is 1 to 65535"
		                               : "policy-source: '%s' is not an IPv4 or IPv6 ADDR[@PORT]", addr);
		return -1;
	}
	snprintf(text, textlen, strchr(addr, '@') ? "%s" : "%s@53", addr);
	/* NAME:ALGORITHM:BASE64, else a file */
	char *c1 = strchr(key, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
	if (c1 && c2 && !strchr(c2 + 1, ':') && access(key, F_OK) != 0) {
		*c1 = *c2 = '\0';
		return key_set(k, key, c1 + 1, c2 + 1, err, errlen);
	}
	return read_file ? key_file(k, key, err, errlen) : 0;
}

int
xfr_check_config(const char *source, const char *apex, bool read_key_file, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t len;
	char text[96];
	struct xfr_key k;
	uint8_t wire[DNAME_MAXLEN];

	if (!apex) {
		snprintf(err, errlen, "policy-source xfr needs policy-zone-apex: NAME");
		return -1;
	}
	if (!policydb_valid_name(apex) || !dname_from_text(apex, wire)) {
		snprintf(err, errlen, "policy-zone-apex: '%s' is not a domain name (letters, digits and "
		         "hyphens, labels of 1 to 63 characters)", apex);
		return -1;
	}
	int rc = parse_source(source, &ss, &len, text, sizeof(text), &k, read_key_file, err, errlen);
	OPENSSL_cleanse(&k, sizeof(k));
	return rc;
}

/* ------------------------------------------------------------ the wire */

/* Milliseconds left until deadline (CLOCK_MONOTONIC), at least 0. */
static int
left_ms(const struct timespec *deadline)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	long ms = (deadline->tv_sec - now.tv_sec) * 1000 + (deadline->tv_nsec - now.tv_nsec) / 1000000;
	return ms < 0 ? 0 : (int)ms;
}

static int
tcp_connect(const struct xfr *x, const struct timespec *deadline, char *err, size_t errlen)
{
	int fd = socket(x->server.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	if (connect(fd, (const struct sockaddr *)&x->server, x->server_len) != 0 && errno != EINPROGRESS) {
		snprintf(err, errlen, "connect %s: %s", x->server_text, strerror(errno));
		close(fd);
		return -1;
	}
	struct pollfd p = { fd, POLLOUT, 0 };
	int ms = left_ms(deadline);
	if (ms > XFR_CONNECT_MS)
		ms = XFR_CONNECT_MS;
	int soerr = 0;
	socklen_t sl = sizeof(soerr);
	if (poll(&p, 1, ms) != 1 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0 || soerr) {
		snprintf(err, errlen, "connect %s: %s", x->server_text,
		         soerr ? strerror(soerr) : "timed out");
		close(fd);
		return -1;
	}
	return fd;
}

/* Write or read exactly len bytes before the deadline. */
static int
io_all(int fd, uint8_t *buf, size_t len, bool out, const struct timespec *deadline)
{
	size_t done = 0;

	while (done < len) {
		struct pollfd p = { fd, out ? POLLOUT : POLLIN, 0 };
		if (poll(&p, 1, left_ms(deadline)) != 1)
			return -1;
		ssize_t n = out ? send(fd, buf + done, len - done, MSG_NOSIGNAL) : recv(fd, buf + done, len - done, 0);
		if (n <= 0) {
			if (n < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			return -1;
		}
		done += (size_t)n;
	}
	return 0;
}

/* Skip a (possibly compressed) name in a message; the offset after it, or 0. */
static size_t
skip_name(const uint8_t *w, size_t len, size_t off)
{
	while (off < len) {
		uint8_t l = w[off];
		if ((l & 0xc0) == 0xc0)
			return off + 2 <= len ? off + 2 : 0;
		if (l & 0xc0)
			return 0;
		off += 1u + l;
		if (l == 0)
			return off <= len ? off : 0;
	}
	return 0;
}

/* An uncompressed name in rdata into canonical wire (lower case); its length or 0. */
static size_t
read_name(const uint8_t *w, size_t len, size_t off, uint8_t *out, size_t *after)
{
	size_t o = 0;

	while (off < len) {
		uint8_t l = w[off];
		if (l & 0xc0 || off + 1 + l > len || o + 1 + l > DNAME_MAXLEN)
			return 0;
		memcpy(out + o, w + off, 1u + l);
		o += 1u + l;
		off += 1u + l;
		if (l == 0) {
			*after = off;
			dname_lower(out);
			return o;
		}
	}
	return 0;
}

static uint16_t
get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* TSIG of the messages of one response (RFC 8945 5.3 and 5.3.1). */
struct tsig_state {
	uint8_t mac[EVP_MAX_MD_SIZE];
	size_t maclen;
	bool first;
	uint8_t *pending;          /* unsigned messages since the last signed one */
	size_t npending, cap;
	int unsigned_count;
};

static int
buf_add(uint8_t **b, size_t *n, size_t *cap, const void *data, size_t len)
{
	if (len == 0)
		return 0;
	if (*n + len > *cap) {
		size_t c = (*n + len) * 2;
		uint8_t *nb = realloc(*b, c);
		if (!nb)
			return -1;
		*b = nb;
		*cap = c;
	}
	memcpy(*b + *n, data, len);
	*n += len;
	return 0;
}

/*
 * Check one response message w (len bytes) against the key and the state;
 * an unsigned one is kept for the next signed one. 0 ok (*is_signed says
 * which), -1 with err set.
 */
static int
tsig_check(const struct xfr_key *k, struct tsig_state *s, const uint8_t *w, size_t len,
           bool *is_signed, char *err, size_t errlen)
{
	*is_signed = false;
	if (len < 12)
		goto malformed;
	unsigned qd = get16(w + 4), an = get16(w + 6), ns = get16(w + 8), ar = get16(w + 10);
	size_t off = 12, last = 0;
	for (unsigned i = 0; i < qd; i++) {
		if (!(off = skip_name(w, len, off)) || off + 4 > len)
			goto malformed;
		off += 4;
	}
	unsigned nrr = an + ns + ar;
	uint16_t last_type = 0;
	for (unsigned i = 0; i < nrr; i++) {
		last = off;
		if (!(off = skip_name(w, len, off)) || off + 10 > len)
			goto malformed;
		last_type = get16(w + off);
		size_t rdlen = get16(w + off + 8);
		off += 10 + rdlen;
		if (off > len)
			goto malformed;
	}
	if (ar == 0 || last_type != LDNS_RR_TYPE_TSIG) {
		if (s->first) {
			snprintf(err, errlen, "the server's first message is not signed (TSIG)");
			return -1;
		}
		if (++s->unsigned_count > XFR_MAX_UNSIGNED) {
			snprintf(err, errlen, "more than %d unsigned messages in a row", XFR_MAX_UNSIGNED);
			return -1;
		}
		if (buf_add(&s->pending, &s->npending, &s->cap, w, len) != 0)
			goto nomem;
		return 0;
	}
	/* the TSIG record: owner (the key name), TSIG, ANY, TTL 0, rdata */
	uint8_t owner[DNAME_MAXLEN], alg[DNAME_MAXLEN];
	ldns_rdf *ordf = NULL;
	size_t p = last;
	if (ldns_wire2dname(&ordf, w, len, &p) != LDNS_STATUS_OK)
		goto malformed;
	size_t olen = ldns_rdf_size(ordf);
	memcpy(owner, ldns_rdf_data(ordf), olen < sizeof(owner) ? olen : sizeof(owner));
	ldns_rdf_deep_free(ordf);
	dname_lower(owner);
	if (p + 10 > len || get16(w + p + 2) != LDNS_RR_CLASS_ANY)
		goto malformed;
	size_t rd = p + 10, rdend = rd + get16(w + p + 8), after;
	size_t alen = read_name(w, rdend, rd, alg, &after);
	if (!alen || after + 10 > rdend)
		goto malformed;
	const uint8_t *timers = w + after; /* time (6), fudge (2) */
	size_t macsize = get16(w + after + 8);
	if (after + 10 + macsize + 6 > rdend)
		goto malformed;
	const uint8_t *mac = w + after + 10;
	const uint8_t *tail = mac + macsize; /* original id, error, other len, other */
	uint16_t orig_id = get16(tail), error = get16(tail + 2), olen2 = get16(tail + 4);
	if (tail + 6 + olen2 != w + rdend)
		goto malformed;
	if (olen != k->name_len || memcmp(owner, k->name_wire, olen) != 0 || alen != k->alg_len ||
	    memcmp(alg, k->alg_wire, alen) != 0) {
		snprintf(err, errlen, "the server signed with another key or algorithm than %s %s", k->name,
		         k->alg);
		return -1;
	}
	if (error != 0) {
		snprintf(err, errlen, "the server refused our TSIG: %s", error == 16 ? "BADSIG" :
		         error == 17 ? "BADKEY" : error == 18 ? "BADTIME" : error == 22 ? "BADTRUNC" : "error");
		return -1;
	}
	/* the data signed */
	uint8_t *d = NULL, hdr[12];
	size_t dn = 0, dcap = 0;
	uint8_t ml[2] = { (uint8_t)(s->maclen >> 8), (uint8_t)s->maclen };
	memcpy(hdr, w, 12);
	hdr[0] = (uint8_t)(orig_id >> 8);
	hdr[1] = (uint8_t)orig_id;
	hdr[10] = (uint8_t)((ar - 1) >> 8);
	hdr[11] = (uint8_t)(ar - 1);
	int ok = buf_add(&d, &dn, &dcap, ml, 2) == 0 && buf_add(&d, &dn, &dcap, s->mac, s->maclen) == 0 &&
	         (s->first || buf_add(&d, &dn, &dcap, s->pending, s->npending) == 0) &&
	         buf_add(&d, &dn, &dcap, hdr, 12) == 0 && buf_add(&d, &dn, &dcap, w + 12, last - 12) == 0;
	if (ok && s->first) {
		static const uint8_t class_ttl[6] = { 0, 255, 0, 0, 0, 0 };
		ok = buf_add(&d, &dn, &dcap, k->name_wire, k->name_len) == 0 &&
		     buf_add(&d, &dn, &dcap, class_ttl, 6) == 0 &&
		     buf_add(&d, &dn, &dcap, k->alg_wire, k->alg_len) == 0 &&
		     buf_add(&d, &dn, &dcap, timers, 8) == 0 && buf_add(&d, &dn, &dcap, tail + 2, 4u + olen2) == 0;
	} else if (ok) {
		ok = buf_add(&d, &dn, &dcap, timers, 8) == 0;
	}
	if (!ok) {
		free(d);
		goto nomem;
	}
	uint8_t want[EVP_MAX_MD_SIZE];
	unsigned wantlen = 0;
	bool good = HMAC(k->md, k->secret, k->secret_len, d, dn, want, &wantlen) != NULL &&
	            wantlen == macsize && CRYPTO_memcmp(want, mac, macsize) == 0;
	free(d);
	if (!good) {
		snprintf(err, errlen, "a message's TSIG does not verify (%s): altered in transit, or "
		         "another secret", macsize != wantlen ? "wrong MAC length" : "BADSIG");
		return -1;
	}
	uint64_t signed_at = (uint64_t)get16(timers) << 32 | (uint64_t)get16(timers + 2) << 16 | get16(timers + 4);
	uint16_t fudge = get16(timers + 6);
	int64_t skew = (int64_t)time(NULL) - (int64_t)signed_at;
	if (skew > fudge || -skew > fudge) {
		snprintf(err, errlen, "TSIG time is %" PRId64 " s off (fudge %u): check both clocks", skew, fudge);
		return -1;
	}
	memcpy(s->mac, mac, macsize);
	s->maclen = macsize;
	s->first = false;
	s->npending = 0;
	s->unsigned_count = 0;
	*is_signed = true;
	return 0;
malformed:
	snprintf(err, errlen, "a malformed response message");
	return -1;
nomem:
	snprintf(err, errlen, "out of memory");
	return -1;
}

/* ------------------------------------------------------------ IXFR/AXFR */

enum stream_state { ST_FIRST, ST_SECOND, ST_AXFR, ST_DEL, ST_ADD, ST_DONE };

/* What one response stream builds. */
struct stream {
	enum stream_state state;
	bool ixfr;                 /* incremental (else a whole zone) */
	uint32_t final_serial, to_serial;
	ldns_rr_list *zone;        /* the zone being built: a copy of the held one for an IXFR */
	ldns_rr *first_soa;
	size_t records, deleted, added, messages, signed_messages;
	/* the net difference of an IXFR (records deleted then added again cancel out), for policyzone_build_diff */
	ldns_rr_list *del, *add;
	bool diff_too_big;
};

#define XFR_DIFF_MAX 20000         /* records; a larger difference is checked as a whole zone */

/* Index of a record equal to rr in l, or -1. */
static long
list_find(const ldns_rr_list *l, const ldns_rr *rr)
{
	for (size_t i = 0; l && i < ldns_rr_list_rr_count(l); i++)
		if (ldns_rr_compare(ldns_rr_list_rr(l, i), rr) == 0)
			return (long)i;
	return -1;
}

static int list_remove(ldns_rr_list *l, const ldns_rr *rr);

/* One record of a difference into the net lists: it cancels its opposite, else it is kept. */
static int
diff_note(struct stream *s, const ldns_rr *rr, bool added)
{
	ldns_rr_list **mine = added ? &s->add : &s->del, *other = added ? s->del : s->add;

	if (s->diff_too_big)
		return 0;
	if (list_find(other, rr) >= 0)
		return list_remove(other, rr);
	if (!*mine && !(*mine = ldns_rr_list_new()))
		return -1;
	if (ldns_rr_list_rr_count(*mine) >= XFR_DIFF_MAX) {
		s->diff_too_big = true;
		return 0;
	}
	return ldns_rr_list_push_rr(*mine, ldns_rr_clone(rr)) ? 0 : -1;
}

static uint32_t
soa_serial(const ldns_rr *rr)
{
	return ldns_rdf2native_int32(ldns_rr_rdf(rr, 2));
}

/* Remove one record equal to rr from l; -1 when there is none. */
static int
list_remove(ldns_rr_list *l, const ldns_rr *rr)
{
	size_t n = ldns_rr_list_rr_count(l);

	for (size_t i = 0; i < n; i++) {
		ldns_rr *cur = ldns_rr_list_rr(l, i);
		if (ldns_rr_compare(cur, rr) != 0)
			continue;
		ldns_rr *tail = ldns_rr_list_pop_rr(l);
		if (tail != cur)
			ldns_rr_list_set_rr(l, tail, i);
		ldns_rr_free(cur);
		return 0;
	}
	return -1;
}

static int
remove_soa(ldns_rr_list *l)
{
	for (size_t i = 0; i < ldns_rr_list_rr_count(l); i++)
		if (ldns_rr_get_type(ldns_rr_list_rr(l, i)) == LDNS_RR_TYPE_SOA)
			return list_remove(l, ldns_rr_list_rr(l, i));
	return -1;
}

/* Feed one record of the answer stream. -1 with err set. */
static int
stream_rr(struct xfr *x, struct stream *s, const ldns_rr *rr, char *err, size_t errlen)
{
	bool soa = ldns_rr_get_type(rr) == LDNS_RR_TYPE_SOA;

	s->records++;
	switch (s->state) {
	case ST_FIRST:
		if (!soa) {
			snprintf(err, errlen, "the transfer does not start with the SOA");
			return -1;
		}
		s->final_serial = soa_serial(rr);
		s->first_soa = ldns_rr_clone(rr);
		s->state = ST_SECOND;
		return s->first_soa ? 0 : -1;
	case ST_SECOND:
		if (soa && x->zone && soa_serial(rr) == (uint32_t)x->serial && s->final_serial != (uint32_t)x->serial) {
			/* an incremental transfer: the first difference sequence starts */
			s->ixfr = true;
			s->zone = ldns_rr_list_clone(x->zone);
			if (!s->zone || remove_soa(s->zone) != 0) {
				snprintf(err, errlen, "out of memory");
				return -1;
			}
			s->state = ST_DEL;
			return 0;
		}
		/* a whole zone */
		s->zone = ldns_rr_list_new();
		if (!s->zone || !ldns_rr_list_push_rr(s->zone, ldns_rr_clone(s->first_soa))) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		s->state = ST_AXFR;
		/* fall through */
	case ST_AXFR:
		if (soa) {
			if (soa_serial(rr) != s->final_serial) {
				snprintf(err, errlen, "a SOA of serial %u inside a transfer of %u", soa_serial(rr),
				         s->final_serial);
				return -1;
			}
			s->state = ST_DONE;
			return 0;
		}
		s->added++;
		return ldns_rr_list_push_rr(s->zone, ldns_rr_clone(rr)) ? 0 : -1;
	case ST_DEL:
		if (soa) {
			s->to_serial = soa_serial(rr);
			s->state = ST_ADD;
			return ldns_rr_list_push_rr(s->zone, ldns_rr_clone(rr)) ? 0 : -1;
		}
		s->deleted++;
		if (diff_note(s, rr, false) != 0)
			return -1;
		if (list_remove(s->zone, rr) != 0) {
			char *t = ldns_rr2str(rr);
			x->force_axfr = true;
			snprintf(err, errlen, "the IXFR deletes a record this site does not hold: %.200s", t ? t : "?");
			free(t);
			return -1;
		}
		return 0;
	case ST_ADD:
		if (soa) {
			if (s->to_serial == s->final_serial && soa_serial(rr) == s->final_serial) {
				s->state = ST_DONE;
				return 0;
			}
			if (soa_serial(rr) != s->to_serial) {
				x->force_axfr = true;
				snprintf(err, errlen, "the IXFR's difference sequences do not follow each other");
				return -1;
			}
			if (remove_soa(s->zone) != 0)
				return -1;
			s->state = ST_DEL;
			return 0;
		}
		s->added++;
		if (s->ixfr && diff_note(s, rr, true) != 0)
			return -1;
		return ldns_rr_list_push_rr(s->zone, ldns_rr_clone(rr)) ? 0 : -1;
	case ST_DONE:
		snprintf(err, errlen, "records after the closing SOA");
		return -1;
	}
	return -1;
}

static void
stream_free(struct stream *s)
{
	ldns_rr_list_deep_free(s->zone);
	ldns_rr_list_deep_free(s->del);
	ldns_rr_list_deep_free(s->add);
	ldns_rr_free(s->first_soa);
	memset(s, 0, sizeof(*s));
}

/*
 * One transfer: IXFR from the serial held (AXFR when nothing is held or
 * axfr), every message's TSIG checked. On 0, s holds the result: ST_DONE
 * with a zone, or ST_SECOND (a lone SOA: the server has nothing newer, or
 * wants an AXFR when its serial differs).
 */
static int
transfer(struct xfr *x, bool axfr, struct stream *s, char *err, size_t errlen)
{
	struct timespec deadline;
	ldns_pkt *q = NULL;
	uint8_t *qwire = NULL, *msg = NULL;
	size_t qlen = 0;
	int fd = -1, ret = -1;
	struct tsig_state ts;
	bool use_ixfr = !axfr && x->zone;

	memset(s, 0, sizeof(*s));
	memset(&ts, 0, sizeof(ts));
	ts.first = true;
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += XFR_TIMEOUT_MS / 1000;
	ldns_rdf *apex = ldns_dname_new_frm_str(x->apex);
	q = apex ? ldns_pkt_query_new(apex, use_ixfr ? LDNS_RR_TYPE_IXFR : LDNS_RR_TYPE_AXFR,
	                              LDNS_RR_CLASS_IN, 0) : NULL;
	if (!q) {
		ldns_rdf_deep_free(apex);
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	ldns_pkt_set_random_id(q);
	if (use_ixfr) {
		for (size_t i = 0; i < ldns_rr_list_rr_count(x->zone); i++) {
			const ldns_rr *rr = ldns_rr_list_rr(x->zone, i);
			if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_SOA) {
				ldns_pkt_push_rr(q, LDNS_SECTION_AUTHORITY, ldns_rr_clone(rr));
				break;
			}
		}
	}
	if (ldns_pkt_tsig_sign(q, x->key.name, x->key.b64, XFR_FUDGE, x->key.alg, NULL) != LDNS_STATUS_OK ||
	    ldns_pkt2wire(&qwire, q, &qlen) != LDNS_STATUS_OK || qlen > 65535) {
		snprintf(err, errlen, "cannot sign the query with TSIG key %s", x->key.name);
		goto out;
	}
	/* the request MAC: the first response is signed over it */
	const ldns_rdf *macrdf = ldns_rr_rdf(ldns_pkt_tsig(q), 3);
	if (!macrdf || ldns_rdf_size(macrdf) < 2 || ldns_rdf_size(macrdf) - 2 > sizeof(ts.mac)) {
		snprintf(err, errlen, "cannot sign the query with TSIG key %s", x->key.name);
		goto out;
	}
	ts.maclen = ldns_rdf_size(macrdf) - 2;
	memcpy(ts.mac, ldns_rdf_data(macrdf) + 2, ts.maclen);
	if ((fd = tcp_connect(x, &deadline, err, errlen)) < 0)
		goto out;
	uint8_t lenb[2] = { (uint8_t)(qlen >> 8), (uint8_t)qlen };
	if (io_all(fd, lenb, 2, true, &deadline) != 0 || io_all(fd, qwire, qlen, true, &deadline) != 0) {
		snprintf(err, errlen, "sending the query to %s: %s", x->server_text, strerror(errno));
		goto out;
	}
	uint16_t id = ldns_pkt_id(q);
	while (s->state != ST_DONE) {
		if (io_all(fd, lenb, 2, false, &deadline) != 0) {
			snprintf(err, errlen, "%s closed the connection or timed out %s", x->server_text,
			         s->messages ? "in the middle of the transfer" : "before answering");
			goto out;
		}
		size_t mlen = get16(lenb);
		free(msg);
		msg = malloc(mlen ? mlen : 1);
		if (!msg || io_all(fd, msg, mlen, false, &deadline) != 0) {
			snprintf(err, errlen, "%s: the transfer was cut short", x->server_text);
			goto out;
		}
		s->messages++;
		bool is_signed;
		ldns_pkt *r = NULL;
		if (ldns_wire2pkt(&r, msg, mlen) != LDNS_STATUS_OK) {
			snprintf(err, errlen, "a malformed response message");
			goto out;
		}
		/* an error answer first (a refusal is often unsigned: BADKEY, NOTAUTH) */
		if (ldns_pkt_id(r) != id || !ldns_pkt_qr(r) || ldns_pkt_get_rcode(r) != LDNS_RCODE_NOERROR) {
			char *rc = ldns_pkt_rcode2str(ldns_pkt_get_rcode(r));
			snprintf(err, errlen, "%s answered %s for zone %s%s", x->server_text,
			         ldns_pkt_id(r) != id ? "another query's ID" : rc ? rc : "an error", x->apex,
			         ldns_pkt_get_rcode(r) == LDNS_RCODE_NOTAUTH
			             ? " (it does not serve that zone, or does not know or accept the TSIG key)" : "");
			free(rc);
			ldns_pkt_free(r);
			goto out;
		}
		if (tsig_check(&x->key, &ts, msg, mlen, &is_signed, err, errlen) != 0) {
			ldns_pkt_free(r);
			goto out;
		}
		s->signed_messages += is_signed;
		const ldns_rr_list *an = ldns_pkt_answer(r);
		size_t n = ldns_rr_list_rr_count(an);
		for (size_t i = 0; i < n; i++)
			if (stream_rr(x, s, ldns_rr_list_rr(an, i), err, errlen) != 0) {
				if (!err[0])
					snprintf(err, errlen, "out of memory");
				ldns_pkt_free(r);
				goto out;
			}
		ldns_pkt_free(r);
		if (s->state == ST_SECOND && s->messages == 1 && n == 1 && use_ixfr) {
			/*
			 * One SOA, alone in the first message: the answer to an IXFR
			 * when nothing is newer (RFC 1995 4; also "ask for an AXFR"
			 * when its serial differs), unless it is the first record of a
			 * server that sends one record per message: then more follows.
			 */
			struct pollfd pfd = { fd, POLLIN, 0 };
			if (s->final_serial == (uint32_t)x->serial || poll(&pfd, 1, XFR_LONE_SOA_MS) != 1)
				break;
		}
		if (s->state == ST_FIRST) {
			snprintf(err, errlen, "%s sent no records for zone %s (not authoritative for it?)",
			         x->server_text, x->apex);
			goto out;
		}
	}
	if (!ts.first && ts.npending) {
		snprintf(err, errlen, "the last message of the transfer is not signed");
		goto out;
	}
	ret = 0;
out:
	if (fd >= 0)
		close(fd);
	free(ts.pending);
	free(msg);
	free(qwire);
	ldns_pkt_free(q);
	if (ret != 0)
		stream_free(s);
	return ret;
}

/* ------------------------------------------------------------ the database */

/* The change log's next id in the live database (1 when it does not read). */
static int64_t
next_audit_id(const char *path)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int64_t id = 1;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, "SELECT coalesce(max(id), 0) + 1 FROM audit", -1, &st, NULL) == SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW)
			id = sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
	}
	sqlite3_close(db);
	return id;
}

/* The serial of the live database, -1 when it does not read. */
static int64_t
live_serial(const char *path)
{
	char err[256];
	sqlite3 *db = policydb_open(path, 1, err, sizeof(err));
	int64_t s = db ? policydb_serial(db, err, sizeof(err)) : -1;

	sqlite3_close(db);
	return s;
}

/*
 * Copy the checked file into the live database with the backup API, in one
 * commit: the file stays the one resolverd's watcher has open (a file
 * renamed over it would be refused, reload.h), and readers see the old
 * policy or the new one.
 */
static int
copy_into_live(struct xfr *x, char *err, size_t errlen)
{
	sqlite3 *src = NULL, *dst = NULL;
	int rc = -1;

	if (sqlite3_open_v2(x->tmp_path, &src, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
	    sqlite3_open_v2(x->database, &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", x->database, dst ? sqlite3_errmsg(dst) : "cannot open");
		goto out;
	}
	sqlite3_busy_timeout(dst, 5000);
	sqlite3_backup *b = sqlite3_backup_init(dst, "main", src, "main");
	if (!b) {
		snprintf(err, errlen, "%s: %s", x->database, sqlite3_errmsg(dst));
		goto out;
	}
	int brc, tries = 0;
	while ((brc = sqlite3_backup_step(b, -1)) == SQLITE_BUSY || brc == SQLITE_LOCKED || brc == SQLITE_OK) {
		if (brc != SQLITE_OK && ++tries > 50)
			break;
		sqlite3_sleep(100);
	}
	sqlite3_backup_finish(b);
	if (brc != SQLITE_DONE) {
		snprintf(err, errlen, "%s: copying the new policy in: %s; the old one stays", x->database,
		         sqlite3_errstr(brc));
		goto out;
	}
	sqlite3_exec(dst, "PRAGMA journal_mode = WAL", NULL, NULL, NULL);
	rc = 0;
out:
	sqlite3_close(src);
	sqlite3_close(dst);
	return rc;
}

static void
remove_tmp(const struct xfr *x)
{
	policydb_remove(x->tmp_path);
}

/* ------------------------------------------------------------ one check */

/* The transfer status file, replaced whole (a temporary file renamed over it). */
static void
status_write(struct xfr *x, const char *state)
{
	char a[32], b[32], c[32];
	struct xfr_stats st;

	xfr_stats(x, &st);
	if (!state)
		state = st.failing ? "failing" : st.serial >= 0 ? "ok" : "starting";
	statusfile_one_line(x->last_error);
	if (statusfile_write(x->status_path, x->status_tmp,
	                     "# resolverd policy transfer status, rewritten at every change\n"
	                     "pid: %ld\nxfr-state: %s\nxfr-source: %s\nxfr-zone: %s\nxfr-serial: %" PRId64 "\n"
	                     "xfr-last-transfer: %s\nxfr-last-records: %" PRIu64 "\nxfr-last-success: %s\n"
	                     "xfr-transfers: %" PRIu64 "\nxfr-failures: %" PRIu64 "\nxfr-last-error: %s\n"
	                     "xfr-last-error-at: %s\nxfr-updated: %s\n",
	                     (long)getpid(), state, x->server_text, x->apex, st.serial,
	                     x->last_kind[0] ? x->last_kind : "-", st.last_records,
	                     statusfile_time(st.last_success, a, sizeof(a)), st.transfers, st.failures,
	                     x->last_error[0] ? x->last_error : "-",
	                     statusfile_time(x->last_error_at, b, sizeof(b)),
	                     statusfile_time(time(NULL), c, sizeof(c))) != 0) {
		if (!x->status_warned)
			log_warn("cannot write the transfer status file %s: %s", x->status_path, strerror(errno));
		x->status_warned = true;
	}
	x->status_at = time(NULL);
}

/* A failed check: counted, logged (again after XFR_LOG_REPEAT_S while it repeats), written. */
static void
check_failed(struct xfr *x, const char *why)
{
	time_t now = time(NULL);
	bool repeat = strcmp(why, x->last_error) == 0;

	pthread_mutex_lock(&x->lock);
	x->st.failures++;
	bool was = x->st.failing;
	x->st.failing = true;
	int64_t serial = x->st.serial;
	pthread_mutex_unlock(&x->lock);
	if (!repeat || now - x->logged_at >= XFR_LOG_REPEAT_S) {
		if (serial >= 0)
			log_err("policy transfer from %s failed: %s; still serving the last good policy (zone "
			        "serial %" PRId64 ")", x->server_text, why, serial);
		else
			log_err("policy transfer from %s failed: %s; no policy transferred yet", x->server_text, why);
		x->logged_at = now;
	}
	snprintf(x->last_error, sizeof(x->last_error), "%s", why);
	x->last_error_at = now;
	(void)was;
	status_write(x, NULL); /* its failure count agrees with the metric's */
}

static void
check_ok(struct xfr *x, bool changed)
{
	pthread_mutex_lock(&x->lock);
	bool was = x->st.failing;
	x->st.failing = false;
	x->st.last_success = time(NULL);
	pthread_mutex_unlock(&x->lock);
	if (was)
		log_info("policy transfer from %s works again (zone serial %" PRId64 ")", x->server_text,
		         x->serial);
	if (was || changed || time(NULL) - x->status_at >= XFR_LOG_REPEAT_S)
		status_write(x, NULL);
}

/* The SOA timers of the zone held, for the poll. */
static void
take_timers(struct xfr *x)
{
	for (size_t i = 0; i < ldns_rr_list_rr_count(x->zone); i++) {
		const ldns_rr *rr = ldns_rr_list_rr(x->zone, i);
		if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_SOA) {
			x->soa_refresh = ldns_rdf2native_int32(ldns_rr_rdf(rr, 3));
			x->soa_retry = ldns_rdf2native_int32(ldns_rr_rdf(rr, 4));
		}
	}
}

/*
 * One check: transfer what is new, build and check it, copy it in. 0 (up
 * to date or updated), -1 with err set (nothing changed).
 */
static int
check(struct xfr *x, char *err, size_t errlen)
{
	struct stream s;
	struct timespec t0, t1;

	err[0] = '\0';
	clock_gettime(CLOCK_MONOTONIC, &t0);
	bool axfr = x->force_axfr;
	if (transfer(x, axfr, &s, err, errlen) != 0)
		return -1;
	if (s.state == ST_SECOND && axfr) {
		stream_free(&s);
		snprintf(err, errlen, "the AXFR of %s is a lone SOA", x->apex);
		return -1;
	}
	if (s.state == ST_SECOND) {
		/* a lone SOA: nothing newer, or the server wants an AXFR */
		uint32_t serial = s.final_serial;
		stream_free(&s);
		if (x->zone && serial == (uint32_t)x->serial)
			return 0;
		if (x->zone && (int32_t)(serial - (uint32_t)x->serial) < 0) {
			snprintf(err, errlen, "the server's serial %u is older than the serial %lld this site "
			         "holds: refused (a server restored from an old copy?)", serial, (long long)x->serial);
			return -1;
		}
		if (transfer(x, true, &s, err, errlen) != 0)
			return -1;
		if (s.state != ST_DONE) {
			stream_free(&s);
			snprintf(err, errlen, "the AXFR of %s is a lone SOA", x->apex);
			return -1;
		}
	}
	const char *kind = s.ixfr ? "IXFR" : "AXFR";
	int64_t live = live_serial(x->database);
	/* never backwards (RFC 1982 serial arithmetic, as secondaries compare) */
	int64_t held = x->zone ? x->serial : live;
	if (held >= 0 && (int32_t)(s.final_serial - (uint32_t)held) < 0) {
		snprintf(err, errlen, "%s: the server's serial %u is older than the serial %lld this site "
		         "holds: refused (a server restored from an old copy?)", kind, s.final_serial,
		         (long long)held);
		stream_free(&s);
		return -1;
	}
	struct policyzone_info info;
	memset(&info, 0, sizeof(info));
	const char *how = "whole zone";
	if (live != (int64_t)s.final_serial || !x->zone) {
		/*
		 * A whole zone in hand: check it all, in a new file, before anything
		 * is replaced. After an IXFR from the serial the database holds,
		 * the file starts as a copy of the database with the difference
		 * applied (the cost of the change, not of the policy); the whole is
		 * checked either way, and a difference that does not apply there is
		 * built from the whole zone instead.
		 */
		int built = -1;
		if (s.ixfr && live == x->serial && !s.diff_too_big) {
			char why[512];
			ldns_rr_list *none = ldns_rr_list_new();
			built = none ? policyzone_build_diff(x->apex, s.zone, s.del ? s.del : none,
			                                     s.add ? s.add : none, x->database, x->tmp_path,
			                                     next_audit_id(x->database), &info, why, sizeof(why)) : -1;
			ldns_rr_list_free(none);
			if (!none)
				snprintf(why, sizeof(why), "out of memory");
			if (built == 0)
				how = "difference applied";
			else
				log_info("policy transfer: the IXFR to serial %u did not apply to the database (%s): "
				         "checking the whole zone", s.final_serial, why);
		}
		if (built != 0 && policyzone_build(x->apex, s.zone, x->schema_sql, x->tmp_path,
		                                   next_audit_id(x->database), &info, err, errlen) != 0) {
			char why[512];
			snprintf(why, sizeof(why), "%s of serial %u refused: %s", kind, s.final_serial, err);
			snprintf(err, errlen, "%s", why);
			/* a difference that does not add up may come from the zone held: start afresh */
			x->force_axfr = s.ixfr;
			stream_free(&s);
			remove_tmp(x);
			return -1;
		}
		if (live != (int64_t)s.final_serial && copy_into_live(x, err, errlen) != 0) {
			stream_free(&s);
			remove_tmp(x);
			return -1;
		}
		remove_tmp(x);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double ms = (double)(t1.tv_sec - t0.tv_sec) * 1000.0 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	if (live != (int64_t)s.final_serial) {
		if (s.ixfr)
			log_info("policy transfer: IXFR serial %" PRId64 " -> %u from %s: %zu records in %zu "
			         "messages (%zu deleted, %zu added; %zu messages signed), %zu rows checked (%s), "
			         "copied in %.1f ms", x->serial, s.final_serial, x->server_text, s.records,
			         s.messages, s.deleted, s.added, s.signed_messages, info.total, how, ms);
		else
			log_info("policy transfer: AXFR serial %u from %s: %zu records in %zu messages (%zu "
			         "signed), %zu rows checked, copied in %.1f ms", s.final_serial, x->server_text,
			         s.records, s.messages, s.signed_messages, info.total, ms);
	} else {
		log_info("policy transfer: %s serial %u from %s: %zu records, the database already holds it",
		         kind, s.final_serial, x->server_text, s.records);
	}
	ldns_rr_list_deep_free(x->zone);
	x->zone = s.zone;
	s.zone = NULL;
	x->force_axfr = false;
	x->serial = s.final_serial;
	take_timers(x);
	snprintf(x->last_kind, sizeof(x->last_kind), "%s", kind);
	pthread_mutex_lock(&x->lock);
	x->st.serial = x->serial;
	x->st.last_records = s.records;
	if (live != (int64_t)s.final_serial)
		x->st.transfers++;
	pthread_mutex_unlock(&x->lock);
	stream_free(&s);
	return live != (int64_t)x->serial ? 1 : 0;
}

/* ------------------------------------------------------------ the thread */

static void *
xfr_thread(void *arg)
{
	struct xfr *x = arg;
	char err[512];

	for (;;) {
		int rc = check(x, err, sizeof(err));
		if (rc < 0)
			check_failed(x, err);
		else
			check_ok(x, rc > 0);
		int wait_s = x->refresh_s;
		if (wait_s <= 0) {
			uint32_t t = rc < 0 ? x->soa_retry : x->soa_refresh;
			wait_s = t ? (int)(t > 86400 ? 86400 : t) : XFR_DEFAULT_RETRY;
		}
		struct timespec until, pause = { 0, XFR_NOTIFY_MIN_MS * 1000000L };
		nanosleep(&pause, NULL); /* NOTIFYs make one check each 100 ms at most */
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += wait_s;
		pthread_mutex_lock(&x->lock);
		while (!x->stop && !x->woken && pthread_cond_timedwait(&x->cond, &x->lock, &until) == 0)
			;
		bool stop = x->stop;
		x->woken = false;
		pthread_mutex_unlock(&x->lock);
		if (stop)
			break;
	}
	return NULL;
}

struct xfr *
xfr_new(const char *source, const char *apex, const char *database, const char *schema_sql,
        int refresh_s, char *err, size_t errlen)
{
	struct xfr *x = calloc(1, sizeof(*x));

	if (!x) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (xfr_check_config(source, apex, false, err, errlen) != 0 ||
	    parse_source(source, &x->server, &x->server_len, x->server_text, sizeof(x->server_text),
	                 &x->key, true, err, errlen) != 0) {
		OPENSSL_cleanse(&x->key, sizeof(x->key));
		free(x);
		return NULL;
	}
	x->apex = strdup(apex);
	x->database = strdup(database);
	if (!x->apex || !x->database || asprintf(&x->tmp_path, "%s.xfr-new", database) < 0 ||
	    asprintf(&x->status_path, "%s%s", database, XFR_STATUS_SUFFIX) < 0 ||
	    asprintf(&x->status_tmp, "%s%s.tmp", database, XFR_STATUS_SUFFIX) < 0) {
		snprintf(err, errlen, "out of memory");
		free(x->apex);
		free(x->database);
		free(x->tmp_path);
		free(x->status_path);
		free(x);
		return NULL;
	}
	x->refresh_s = refresh_s;
	x->schema_sql = schema_sql;
	dname_from_text(apex, x->apex_wire);
	netaddr_from_sockaddr((const struct sockaddr *)&x->server, &x->server_addr);
	x->serial = -1;  /* no zone in memory: the first check is an AXFR */
	/* the replica already held, if any: what this site serves until then */
	x->st.serial = access(x->database, F_OK) == 0 ? live_serial(x->database) : -1;
	pthread_mutex_init(&x->lock, NULL);
	pthread_cond_init(&x->cond, NULL);
	return x;
}

int
xfr_once(struct xfr *x, char *err, size_t errlen)
{
	int rc = check(x, err, errlen);

	if (rc < 0) {
		char why[512];
		snprintf(why, sizeof(why), "%s", err);
		check_failed(x, why);
		return -1;
	}
	check_ok(x, rc > 0);
	return 0;
}

int
xfr_start(struct xfr *x)
{
	if (pthread_create(&x->thread, NULL, xfr_thread, x) != 0)
		return -1;
	x->started = true;
	return 0;
}

bool
xfr_notify(void *arg, const uint8_t *qname, const struct netaddr *source)
{
	struct xfr *x = arg;
	struct netaddr from = *source;

	netaddr_unmap(&from);
	if (!dname_equal(qname, x->apex_wire) || from.family != x->server_addr.family ||
	    memcmp(from.addr, x->server_addr.addr, from.family == AF_INET ? 4 : 16) != 0)
		return false;
	pthread_mutex_lock(&x->lock);
	x->woken = true;
	pthread_cond_signal(&x->cond);
	pthread_mutex_unlock(&x->lock);
	return true;
}

void
xfr_stats(struct xfr *x, struct xfr_stats *s)
{
	if (!x) {
		memset(s, 0, sizeof(*s));
		s->serial = -1;
		return;
	}
	pthread_mutex_lock(&x->lock);
	*s = x->st;
	pthread_mutex_unlock(&x->lock);
}

void
xfr_stop(struct xfr *x)
{
	if (!x)
		return;
	if (x->started) {
		pthread_mutex_lock(&x->lock);
		x->stop = true;
		pthread_cond_signal(&x->cond);
		pthread_mutex_unlock(&x->lock);
		pthread_join(x->thread, NULL);
		status_write(x, "stopped");
	}
	ldns_rr_list_deep_free(x->zone);
	OPENSSL_cleanse(&x->key, sizeof(x->key));
	pthread_cond_destroy(&x->cond);
	pthread_mutex_destroy(&x->lock);
	free(x->apex);
	free(x->database);
	free(x->tmp_path);
	free(x->status_path);
	free(x->status_tmp);
	free(x);
}
