#!/usr/bin/python3
"""slixmpp as a second client stack against Canto (run by slixmpp.test.ts).

Connects over STARTTLS, trusting only the test server's self-signed certificate (--ca), logs
in with SASL (SCRAM; --mechanism forces one), binds a resource, sends a message to its own
full JID and waits to receive it.

--channel-binding off: slixmpp 1.8 knows only the tls-unique channel binding, which TLS 1.3
does not define, and it ignores XEP-0440's list of the server's types. Left alone it tries
SCRAM-*-PLUS with tls-unique, then plain SCRAM with the "y" flag ("I could bind, I think you
cannot"), which a server that offered -PLUS must refuse (RFC 5802 downgrade detection). "off"
makes it act as a client without channel binding (gs2 flag "n", no -PLUS), as XEP-0440 §3
allows when there is no mutual binding type. "stock" leaves slixmpp as it is. Progress goes to stdout as JSON lines, one per event:

  {"event": "session_start", "jid": ..., "mechanism": ..., "tls": ...}
  {"event": "received", "from": ..., "body": ..., "id": ...}
  {"event": "failed", "reason": ...}

Exit status 0 only when the message came back.
"""
import argparse
import asyncio
import json
import logging
import sys
from pathlib import Path

import slixmpp


def emit(event, **fields):
    print(json.dumps({"event": event, **fields}), flush=True)


class SelfMessenger(slixmpp.ClientXMPP):
    def __init__(self, jid, password, mechanism, body, channel_binding):
        super().__init__(jid, password, sasl_mech=mechanism)
        self.body = body
        if channel_binding == "off":
            sasl = self["feature_mechanisms"]
            stock_credentials = sasl._default_credentials

            def without_channel_binding(required, optional):
                creds = stock_credentials(required, optional)
                if "channel_binding" in creds:
                    creds["channel_binding"] = b""
                return creds

            sasl.sasl_callback = without_channel_binding
            if mechanism is None:
                sasl.use_mechs = {"SCRAM-SHA-256", "SCRAM-SHA-1"}
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
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--ca", required=True, help="PEM file of the server's certificate, trusted as the only CA")
    parser.add_argument("--mechanism", default=None)
    parser.add_argument("--channel-binding", choices=["off", "stock"], default="off")
    parser.add_argument("--body", default="hello from slixmpp")
    parser.add_argument("--timeout", type=float, default=15)
    parser.add_argument("--debug", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.ERROR, stream=sys.stderr)

    client = SelfMessenger(args.jid, args.password, args.mechanism, args.body, args.channel_binding)
    # The certificate is self-signed for the domain: trust exactly it, and still check the name.
    client.ca_certs = Path(args.ca)
    client.connect((args.host, args.port), force_starttls=True)
    try:
        client.loop.run_until_complete(asyncio.wait_for(client.disconnected, args.timeout))
    except asyncio.TimeoutError:
        client.fail(f"no result within {args.timeout} s")
    sys.exit(0 if client.outcome else 1)


if __name__ == "__main__":
    main()
