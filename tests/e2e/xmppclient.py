#!/usr/bin/python3
"""A real XMPP client (slixmpp) driven by the end-to-end test.

    xmppclient.py --jid alice@alpha.test --password PW --server 198.18.0.11 \
                  --control FIFO --events FILE [--port 5222]

Logs in to its own server (the address given, no DNS), sends available
presence, then reads commands, one per line, from the FIFO:

    send JID ID BODY...   send a chat message with that id
    quit                  disconnect and exit

and appends one line per event to the events file, with the wall-clock time
in milliseconds since the epoch (comparable across the clients of one test):

    ready    T
    sent     T ID TO
    recv     T ID FROM BODY...
    error    T ID FROM CONDITION TEXT...     (a message type="error" came back)
    disconnected T
    failed   T REASON...                     (could not log in)

Runs until "quit", SIGTERM, or a lost connection (then it exits 1).
"""

import argparse
import asyncio
import logging
import os
import signal
import sys
import time

import slixmpp


def now_ms():
    return int(time.time() * 1000)


class Client(slixmpp.ClientXMPP):
    def __init__(self, args):
        super().__init__(args.jid, args.password)
        self.args = args
        self.events = open(args.events, "a", buffering=1, encoding="utf-8")
        self.ready = False
        self.quitting = False
        self.fifo_fd = None
        self.fifo_buf = b""
        self.add_event_handler("session_start", self.on_start)
        self.add_event_handler("message", self.on_message)
        self.add_event_handler("message_error", self.on_message)
        self.add_event_handler("failed_auth", self.on_failed_auth)
        self.add_event_handler("disconnected", self.on_disconnected)
        self.add_event_handler("connection_failed", self.on_connection_failed)

    def emit(self, *fields):
        line = " ".join(str(f) for f in fields)
        self.events.write(line.replace("\n", " ") + "\n")
        self.events.flush()

    async def on_start(self, _event):
        self.send_presence()
        try:
            await self.get_roster(timeout=10)
        except Exception:  # the roster is not needed for messages
            pass
        if not self.ready:
            self.ready = True
            self.open_control()
            self.emit("ready", now_ms())

    def on_message(self, msg):
        mid = msg["id"] or "-"
        frm = msg["from"].bare
        if msg["type"] == "error":
            err = msg["error"]
            # slixmpp knows only the conditions of RFC 3920 (not policy-violation)
            cond = err["condition"] or next(
                (c.tag.split("}")[-1] for c in err.xml
                 if c.tag.startswith("{urn:ietf:params:xml:ns:xmpp-stanzas}") and not c.tag.endswith("}text")),
                "-")
            text = err["text"] or ""
            self.emit("error", now_ms(), mid, frm, cond, text)
        elif msg["type"] in ("chat", "normal"):
            self.emit("recv", now_ms(), mid, frm, msg["body"])

    def on_failed_auth(self, _event):
        self.emit("failed", now_ms(), "authentication failed")
        self.quitting = True
        self.disconnect()

    def on_connection_failed(self, err):
        self.emit("failed", now_ms(), "connection failed:", err)

    def on_disconnected(self, _event):
        self.emit("disconnected", now_ms())
        loop = asyncio.get_event_loop()
        loop.call_soon(loop.stop)

    # ---------------------------------------------------------------- control

    def open_control(self):
        # O_RDWR: the FIFO never reports EOF when a writer closes it
        self.fifo_fd = os.open(self.args.control, os.O_RDWR | os.O_NONBLOCK)
        asyncio.get_event_loop().add_reader(self.fifo_fd, self.on_control)

    def on_control(self):
        try:
            data = os.read(self.fifo_fd, 65536)
        except BlockingIOError:
            return
        self.fifo_buf += data
        while b"\n" in self.fifo_buf:
            line, self.fifo_buf = self.fifo_buf.split(b"\n", 1)
            self.command(line.decode("utf-8", "replace").strip())

    def command(self, line):
        if not line:
            return
        parts = line.split(" ", 3)
        if parts[0] == "send" and len(parts) >= 3:
            to, mid = parts[1], parts[2]
            body = parts[3] if len(parts) > 3 else "hello"
            msg = self.make_message(mto=to, mbody=body, mtype="chat")
            msg["id"] = mid
            msg.send()
            self.emit("sent", now_ms(), mid, to)
        elif parts[0] == "quit":
            self.quitting = True
            self.disconnect()
        else:
            self.emit("badcommand", now_ms(), line)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--jid", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--server", required=True, help="address of the user's own server")
    p.add_argument("--port", type=int, default=5222)
    p.add_argument("--control", required=True, help="FIFO to read commands from")
    p.add_argument("--events", required=True, help="file to append events to")
    p.add_argument("--debug", action="store_true")
    args = p.parse_args()
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    c = Client(args)
    # The test servers have no certificates: no TLS, SCRAM over plain TCP.
    c.connect(address=(args.server, args.port), use_ssl=False,
              force_starttls=False, disable_starttls=True)
    loop = asyncio.get_event_loop()
    loop.add_signal_handler(signal.SIGTERM, loop.stop)
    loop.add_signal_handler(signal.SIGINT, loop.stop)
    loop.run_forever()
    return 0 if c.quitting else 1


if __name__ == "__main__":
    sys.exit(main())
