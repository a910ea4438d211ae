#!/usr/bin/python3
"""slixmpp with XEP-0198 against Canto (run by slixmpp-smacks.test.ts).

Logs in as slixmpp_selftest.py does (STARTTLS, the server's certificate as the only CA, SCRAM
with channel binding off), with the xep_0198 plugin: it enables stream management with
resumption, sends --count messages to its own full JID (slixmpp asks for an ack every 5
stanzas, and once more when all came back), and waits until every one came back and was acknowledged.
JSON lines on stdout:
  {"event": "sm_enabled", "id": ..., "resume": ..., "max": ...}
  {"event": "done", "received": n, "acked": n, "handled": n}   {"event": "failed", "reason": ...}
Exit status 0 only when all messages came back and were acknowledged.
"""
import argparse
import asyncio
import sys

import slixmpp

from slixmpp_common import add_connection_args, connect, emit, setup_logging, without_channel_binding



class SmClient(slixmpp.ClientXMPP):
    def __init__(self, jid, password, count):
        super().__init__(jid, password)
        self.register_plugin("xep_0198")
        without_channel_binding(self)
        self.count = count
        self.received = 0
        self.acked = 0
        self.outcome = None
        self.add_event_handler("sm_enabled", self.on_enabled)
        self.add_event_handler("sm_failed", lambda s: self.fail(f"sm failed: {s}"))
        self.add_event_handler("message", self.on_message)
        self.add_event_handler("stanza_acked", self.on_acked)
        self.add_event_handler("failed_all_auth", lambda _: self.fail("authentication failed"))
        self.add_event_handler("disconnected", lambda _: self.fail("disconnected"))

    def fail(self, reason):
        if self.outcome is None:
            self.outcome = False
            emit("failed", reason=reason)
            self.disconnect()

    def on_enabled(self, stanza):
        emit("sm_enabled", id=stanza["id"], resume=stanza["resume"], max=stanza.xml.get("max"))
        for i in range(self.count):
            self.send_message(mto=self.boundjid.full, mbody=f"sm {i}", mtype="chat")

    def on_message(self, msg):
        if msg["from"] == self.boundjid and msg["body"].startswith("sm "):
            self.received += 1
            if self.received == self.count:
                # slixmpp asks every 5 stanzas by itself; this asks for the rest (requested here,
                # after they came back, since an <r/> sent at once could overtake queued messages).
                self["xep_0198"].request_ack()
            self.check()

    def on_acked(self, stanza):
        if stanza.name == "message":
            self.acked += 1
        self.check()

    def check(self):
        if self.outcome is None and self.received == self.count and self.acked == self.count:
            self.outcome = True
            emit("done", received=self.received, acked=self.acked, handled=self["xep_0198"].handled)
            self.disconnect()


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jid", required=True)
    parser.add_argument("--password", required=True)
    add_connection_args(parser)
    parser.add_argument("--count", type=int, default=7)
    parser.add_argument("--timeout", type=float, default=15)
    args = parser.parse_args()
    setup_logging(args)
    client = SmClient(args.jid, args.password, args.count)
    connect(client, args)
    try:
        client.loop.run_until_complete(asyncio.wait_for(client.disconnected, args.timeout))
    except asyncio.TimeoutError:
        client.fail(f"no result within {args.timeout} s; received {client.received}, acked {client.acked}")
    sys.exit(0 if client.outcome else 1)


if __name__ == "__main__":
    main()
