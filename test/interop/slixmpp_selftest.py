#!/usr/bin/python3
"""slixmpp as a second client stack against Canto (run by slixmpp.test.ts).

Connects over STARTTLS, trusting only the test server's self-signed certificate (--ca), logs
in with SASL (SCRAM; --mechanism forces one), binds a resource, sends a message to its own
full JID and waits to receive it.

--channel-binding off: a client without channel binding (slixmpp_common.py says why slixmpp
needs it); "stock" leaves slixmpp as it is. Progress goes to stdout as JSON lines, one per event:

  {"event": "session_start", "jid": ..., "mechanism": ..., "tls": ...}
  {"event": "received", "from": ..., "body": ..., "id": ...}
  {"event": "failed", "reason": ...}

Exit status 0 only when the message came back.
"""
import argparse
import asyncio
import sys

import slixmpp

from slixmpp_common import add_connection_args, connect, emit, setup_logging, without_channel_binding



class SelfMessenger(slixmpp.ClientXMPP):
    def __init__(self, jid, password, mechanism, body, channel_binding):
        super().__init__(jid, password, sasl_mech=mechanism)
        self.body = body
        if channel_binding == "off":
            without_channel_binding(self, restrict_mechanisms=mechanism is None)
        self.outcome = None
        self.add_event_handler("session_start", self.on_session_start)
        self.add_event_handler("message", self.on_message)
        self.add_event_handler("failed_auth", lambda stanza: emit("auth_failure", mechanism=self["feature_mechanisms"].mech.name, condition=stanza["condition"], text=stanza["text"]))
        self.add_event_handler("failed_all_auth", lambda _: self.fail("no mechanism left to try"))
        self.add_event_handler("ssl_invalid_chain", lambda e: self.fail(f"TLS certificate rejected: {e}"))
        self.add_event_handler("disconnected", lambda _: self.fail("disconnected"))

    def fail(self, reason):
        if self.outcome is None:
            self.outcome = False
            emit("failed", reason=reason)
            self.disconnect()

    def on_session_start(self, _event):
        ssl_object = self.transport.get_extra_info("ssl_object") if self.transport else None
        emit(
            "session_start",
            jid=self.boundjid.full,
            mechanism=self["feature_mechanisms"].mech.name,
            tls=ssl_object.version() if ssl_object else None,
        )
        # No presence and no roster: the message goes to this very resource by its full JID.
        self.send_message(mto=self.boundjid.full, mbody=self.body, mtype="chat")

    def on_message(self, msg):
        emit("received", **{"from": str(msg["from"]), "body": msg["body"], "id": msg["id"], "type": msg["type"]})
        if msg["from"] == self.boundjid and msg["body"] == self.body and self.outcome is None:
            self.outcome = True
            self.disconnect()


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jid", required=True)
    parser.add_argument("--password", required=True)
    add_connection_args(parser)
    parser.add_argument("--mechanism", default=None)
    parser.add_argument("--channel-binding", choices=["off", "stock"], default="off")
    parser.add_argument("--body", default="hello from slixmpp")
    parser.add_argument("--timeout", type=float, default=15)
    args = parser.parse_args()
    setup_logging(args)

    client = SelfMessenger(args.jid, args.password, args.mechanism, args.body, args.channel_binding)
    # The certificate is self-signed for the domain: trust exactly it, and still check the name.
    connect(client, args)
    try:
        client.loop.run_until_complete(asyncio.wait_for(client.disconnected, args.timeout))
    except asyncio.TimeoutError:
        client.fail(f"no result within {args.timeout} s")
    sys.exit(0 if client.outcome else 1)


if __name__ == "__main__":
    main()
