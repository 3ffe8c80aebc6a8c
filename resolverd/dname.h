/*
 * dname.h -- domain names in wire format: conversion, comparison and the
 * XMPP service labels that make a lookup policy-dependent.
 *
 * Names here are uncompressed wire format (length-prefixed labels ending with
 * the root label). Comparison is case-insensitive (ASCII only, as DNS).
 */
#ifndef DNAME_H
#define DNAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DNAME_MAXLEN 255
/* A name in presentation format with every byte escaped as \DDD, and the NUL */
#define DNAME_TEXT_MAX (4 * DNAME_MAXLEN + 1)

/** XMPP services whose SRV lookups are decided by policy. */
enum xmpp_service {
	XMPP_NONE = 0,
	XMPP_SERVER,    /* _xmpp-server._tcp  (RFC 6120) */
	XMPP_SERVER_TLS,/* _xmpps-server._tcp (XEP-0368) */
	XMPP_JABBER     /* _jabber._tcp       (legacy) */
};

/**
 * Text ("a.example", "a.example.", "." ) to lower-case wire format in wire
 * (DNAME_MAXLEN bytes). Returns the length, or 0 when the text is not a valid
 * name (empty label, label over 63, name over 255, escapes are not accepted).
 */
size_t dname_from_text(const char *text, uint8_t *wire);

/**
 * Wire to presentation format (RFC 1035 5.1) without the trailing dot ("."
 * for the root) into buf (len bytes; DNAME_TEXT_MAX always suffices, a
 * shorter buffer cuts the text at an escape boundary). A dot or backslash
 * inside a label is written \. or \\, a byte outside 0x21-0x7e as \DDD, so
 * that "alpha\.test" (one label) is never mistaken for "alpha.test".
 * Returns buf.
 */
char *dname_to_text(const uint8_t *wire, char *buf, size_t len);

/** Length of a valid uncompressed name at wire within max bytes, or 0. */
size_t dname_length(const uint8_t *wire, size_t max);

/** Lower-case a wire name in place. */
void dname_lower(uint8_t *wire);

/** Number of labels, not counting the root. */
unsigned dname_labels(const uint8_t *wire);

/** Pointer to the name after skipping n labels (n <= dname_labels). */
const uint8_t *dname_skip(const uint8_t *wire, unsigned n);

/** Case-insensitive equality of two wire names. */
bool dname_equal(const uint8_t *a, const uint8_t *b);

/** Case-insensitive hash (FNV-1a) of len bytes of a wire name, for hash tables. */
uint32_t dname_hash(const uint8_t *wire, size_t len);

/** Whether name equals zone or lies below it (case-insensitive). */
bool dname_is_below(const uint8_t *name, const uint8_t *zone);

/**
 * If the name starts with an XMPP service's two labels (_xmpp-server._tcp ...),
 * return the service and set *rest to the name after them; else XMPP_NONE.
 */
enum xmpp_service dname_xmpp_service(const uint8_t *wire, const uint8_t **rest);

#endif
