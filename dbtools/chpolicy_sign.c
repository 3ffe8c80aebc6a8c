/*
 * chpolicy_sign.c -- Ed25519 signatures of the policy table (docs/chpolicy.md,
 * "The policy table"): keygen, the detached signature export table writes,
 * and verify-table. All cryptography is OpenSSL's (EVP, Ed25519: RFC 8032
 * pure Ed25519 over the file's exact bytes); base64 is OpenSSL's too.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "chpolicy.h"

/* The largest table verify-table reads (a community of 10^6 domains is about 80 MB). */
#define TABLE_MAX (512L * 1024 * 1024)

/* OpenSSL's last error as text (or "unknown error"), and its queue emptied. */
static const char *
ssl_error(void)
{
	static char buf[256];
	unsigned long e = ERR_get_error();

	if (!e)
		return "unknown error";
	ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	return buf;
}

/* The whole file into a malloced buffer (*len bytes, NUL-terminated). NULL with errno. */
static unsigned char *
read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	struct stat sb;
	unsigned char *buf;

	if (!f)
		return NULL;
	if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size > TABLE_MAX) {
		int e = errno ? errno : EFBIG;
		fclose(f);
		errno = S_ISREG(sb.st_mode) ? e : EISDIR;
		return NULL;
	}
	buf = malloc((size_t)sb.st_size + 1);
	if (!buf || fread(buf, 1, (size_t)sb.st_size, f) != (size_t)sb.st_size) {
		free(buf);
		fclose(f);
		errno = errno ? errno : EIO;
		return NULL;
	}
	fclose(f);
	buf[sb.st_size] = 0;
	*len = (size_t)sb.st_size;
	return buf;
}

/* A PEM key (private or public) of type Ed25519 from path; NULL with the error reported. */
static EVP_PKEY *
read_key(const struct ch_ctx *c, const char *what, const char *path, bool private)
{
	FILE *f = fopen(path, "r");
	EVP_PKEY *k;

	if (!f) {
		ch_error(c, CH_FAIL, "%s: %s: %s", what, path, strerror(errno));
		return NULL;
	}
	k = private ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : PEM_read_PUBKEY(f, NULL, NULL, NULL);
	fclose(f);
	if (!k) {
		ch_error(c, CH_FAIL, "%s: %s: not a PEM %s key (%s)", what, path, private ? "private" : "public",
		         ssl_error());
		return NULL;
	}
	if (EVP_PKEY_get_base_id(k) != EVP_PKEY_ED25519) {
		ch_error(c, CH_FAIL, "%s: %s: not an Ed25519 key", what, path);
		EVP_PKEY_free(k);
		return NULL;
	}
	return k;
}

int
ch_sign_file(const struct ch_ctx *c, const char *file, const char *keyfile, char *b64, size_t len)
{
	unsigned char sig[64];
	size_t siglen = sizeof(sig), dlen;
	unsigned char *data;
	int rc = CH_FAIL;

	if (len < 89)
		return ch_error(c, CH_FAIL, "internal: signature buffer too small");
	EVP_PKEY *key = read_key(c, "--sign", keyfile, true);
	if (!key)
		return CH_FAIL;
	data = read_file(file, &dlen);
	if (!data) {
		EVP_PKEY_free(key);
		return ch_error(c, CH_FAIL, "%s: %s", file, strerror(errno));
	}
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	if (!md || EVP_DigestSignInit(md, NULL, NULL, NULL, key) != 1 ||
	    EVP_DigestSign(md, sig, &siglen, data, dlen) != 1 || siglen != 64)
		ch_error(c, CH_FAIL, "signing %s: %s", file, ssl_error());
	else if (EVP_EncodeBlock((unsigned char *)b64, sig, 64) != 88)
		ch_error(c, CH_FAIL, "signing %s: base64 failed", file);
	else
		rc = CH_OK;
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(key);
	free(data);
	return rc;
}

/* Write a PEM key to path, created new with mode (never over an existing file). */
static int
write_key(const struct ch_ctx *c, const char *path, EVP_PKEY *k, bool private, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, mode);
	FILE *f;

	if (fd < 0)
		return ch_error(c, CH_FAIL, "%s: %s%s", path, strerror(errno),
		                errno == EEXIST ? "; refusing to overwrite" : "");
	f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		unlink(path);
		return ch_error(c, CH_FAIL, "%s: %s", path, strerror(errno));
	}
	int ok = private ? PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL) : PEM_write_PUBKEY(f, k);
	if (fclose(f) != 0 || ok != 1) {
		unlink(path);
		return ch_error(c, CH_FAIL, "%s: cannot write the key", path);
	}
	return CH_OK;
}

int
ch_cmd_keygen(struct ch_ctx *c, const struct ch_args *a)
{
	char priv[4096], pub[4096];
	struct stat sb;
	EVP_PKEY *k = NULL;
	int rc;

	if (!a->out || !*a->out)
		return ch_usage(c, "--out PREFIX is required");
	snprintf(priv, sizeof(priv), "%s.key", a->out);
	snprintf(pub, sizeof(pub), "%s.pub", a->out);
	if (stat(priv, &sb) == 0 || stat(pub, &sb) == 0)
		return ch_error(c, CH_FAIL, "%s: exists; refusing to overwrite", stat(priv, &sb) == 0 ? priv : pub);
	EVP_PKEY_CTX *kc = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
	if (!kc || EVP_PKEY_keygen_init(kc) != 1 || EVP_PKEY_keygen(kc, &k) != 1) {
		EVP_PKEY_CTX_free(kc);
		return ch_error(c, CH_FAIL, "keygen: %s", ssl_error());
	}
	EVP_PKEY_CTX_free(kc);
	rc = write_key(c, priv, k, true, 0600);
	if (rc == CH_OK && (rc = write_key(c, pub, k, false, 0644)) != CH_OK)
		unlink(priv);
	EVP_PKEY_free(k);
	if (rc == CH_OK)
		printf("%s: Ed25519 private key (keep it secret)\n%s: its public key\n", priv, pub);
	return rc;
}

/* Seconds since the epoch of "YYYY-MM-DDTHH:MM:SSZ", or -1. */
static int64_t
parse_rfc3339(const char *s, size_t n)
{
	char buf[32];
	struct tm tm;

	if (n != 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' || s[19] != 'Z')
		return -1;
	memcpy(buf, s, n);
	buf[n] = 0;
	memset(&tm, 0, sizeof(tm));
	if (!strptime(buf, "%Y-%m-%dT%H:%M:%SZ", &tm))
		return -1;
	return (int64_t)timegm(&tm);
}

/*
 * The header of a policy table in any of its formats: its serial, when it
 * was made and until when it is valid. 0, or -1 when it is not a table.
 */
static int
table_header(const unsigned char *data, size_t len, int64_t *serial, int64_t *made, int64_t *until)
{
	const char *t = (const char *)data;
	const char *nl = memchr(t, '\n', len);
	size_t first = nl ? (size_t)(nl - t) : len;
	char line[1024];

	if (len == 0)
		return -1;
	if (t[0] == '{') { /* JSON: the first line is the header */
		static const char fmt[] = "{\"format\":\"xmpp-clearinghouse-policy-table\",\"version\":1,\"serial\":";
		if (first >= sizeof(line) || strncmp(t, fmt, sizeof(fmt) - 1) != 0)
			return -1;
		memcpy(line, t, first);
		line[first] = 0;
		char *end, *m = strstr(line, ",\"made\":\""), *u = strstr(line, ",\"valid_until\":\"");
		*serial = strtoll(line + sizeof(fmt) - 1, &end, 10);
		if (!m || !u || end != m || u != m + 30 || m[29] != '"' || strcmp(u + 36, "\",\"domains\":[") != 0)
			return -1;
		*made = parse_rfc3339(m + 9, 20);
		*until = parse_rfc3339(u + 16, 20);
		return *made < 0 || *until < 0 ? -1 : 0;
	}
	static const char csv[] = "serial,made,valid_until,name,level,enabled,groups\n";
	if (strncmp(t, csv, sizeof(csv) - 1) == 0) {
		/* CSV: every line carries them; an empty table has none (no validity to check) */
		const char *l = t + sizeof(csv) - 1;
		if ((size_t)(l - t) >= len)
			return -1;
		char *end;
		*serial = strtoll(l, &end, 10);
		if (*end != ',' || (size_t)(end + 43 - t) > len || end[21] != ',' || end[42] != ',')
			return -1;
		*made = parse_rfc3339(end + 1, 20);
		*until = parse_rfc3339(end + 22, 20);
		return *made < 0 || *until < 0 ? -1 : 0;
	}
	/* zone: the apex TXT record */
	const char *v = strstr(t, "\"v=xmpp-clearinghouse-policy-table/1\" \"serial=");
	if (!v)
		return -1;
	char *end;
	*serial = strtoll(v + 46, &end, 10);
	if (strncmp(end, "\" \"made=", 8) != 0)
		return -1;
	*made = parse_rfc3339(end + 8, 20);
	if (strncmp(end + 28, "\" \"valid-until=", 15) != 0)
		return -1;
	*until = parse_rfc3339(end + 43, 20);
	return *made < 0 || *until < 0 ? -1 : 0;
}

int
ch_cmd_verify_table(struct ch_ctx *c, const struct ch_args *a)
{
	const char *file = a->pos[0];
	char sigpath[4096], when[32];
	unsigned char *data = NULL, *sigtext = NULL, sig[96];
	size_t dlen, slen;
	int rc = CH_FAIL;

	if (!a->pubkey)
		return ch_usage(c, "--pubkey PEMFILE is required");
	snprintf(sigpath, sizeof(sigpath), "%s.sig", file);
	EVP_PKEY *key = read_key(c, "--pubkey", a->pubkey, false);
	if (!key)
		return CH_FAIL;
	data = read_file(file, &dlen);
	if (!data) {
		ch_error(c, CH_FAIL, "%s: %s", file, strerror(errno));
		goto out;
	}
	sigtext = read_file(a->sig ? a->sig : sigpath, &slen);
	if (!sigtext) {
		ch_error(c, CH_FAIL, "%s: %s", a->sig ? a->sig : sigpath, strerror(errno));
		goto out;
	}
	/* one line: 88 base64 characters and a newline */
	if (!(slen == 89 && sigtext[88] == '\n') ||
	    EVP_DecodeBlock(sig, sigtext, 88) != 66 || sigtext[86] != '=' || sigtext[87] != '=') {
		ch_error(c, CH_FAIL, "%s: not a signature (one line of base64, 64 bytes)", a->sig ? a->sig : sigpath);
		goto out;
	}
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	int good = md && EVP_DigestVerifyInit(md, NULL, NULL, NULL, key) == 1 &&
	           EVP_DigestVerify(md, sig, 64, data, dlen) == 1;
	EVP_MD_CTX_free(md);
	ERR_clear_error();
	if (!good) {
		ch_error(c, CH_FAIL, "%s: BAD signature (%s does not verify with %s): do not use it", file,
		         a->sig ? a->sig : sigpath, a->pubkey);
		goto out;
	}
	int64_t serial, made, until, now = (int64_t)time(NULL);
	if (table_header(data, dlen, &serial, &made, &until) != 0) {
		ch_error(c, CH_FAIL, "%s: good signature, but not a policy table (json, csv or zone)", file);
		goto out;
	}
	ch_fmt_time((time_t)until, when, sizeof(when));
	if (now > until) {
		printf("%s: good signature, serial %lld, EXPIRED at %s UTC: do not use it\n", file,
		       (long long)serial, when);
		rc = CH_NO;
	} else if (made > now + 300) {
		printf("%s: good signature, serial %lld, made in the future: check the clocks\n", file,
		       (long long)serial);
		rc = CH_NO;
	} else {
		printf("%s: good signature, serial %lld, valid until %s UTC\n", file, (long long)serial, when);
		rc = CH_OK;
	}
out:
	EVP_PKEY_free(key);
	free(data);
	free(sigtext);
	return rc;
}
