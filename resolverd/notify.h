/*
 * notify.h -- telling systemd what the daemon is doing (sd_notify(3)
 * protocol: a datagram of "KEY=value" lines to $NOTIFY_SOCKET), without
 * linking libsystemd. With no NOTIFY_SOCKET (not run by systemd with
 * Type=notify) every call does nothing.
 */
#ifndef NOTIFY_H
#define NOTIFY_H

/**
 * Send state (e.g. "READY=1\nSTATUS=serving serial 42") to systemd.
 * Returns 0 when sent or when there is nobody to tell, -1 when sending
 * failed (errno set). Any thread.
 */
int notify_systemd(const char *state);

/**
 * "RELOADING=1" with MONOTONIC_USEC, as Type=notify-reload wants it
 * (systemd 253); older systemd ignores the timestamp. Returns as
 * notify_systemd().
 */
int notify_reloading(void);

#endif
