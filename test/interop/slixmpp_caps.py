#!/usr/bin/python3
"""slixmpp's XEP-0115 against Canto, both ways (run by slixmpp-caps.test.ts).

Logs in like slixmpp_selftest.py (STARTTLS, the server's certificate as the only CA, SCRAM with
channel binding off: see that script's docstring), with the xep_0115 and xep_0163 plugins. It
registers a PEP interest (so its features include a "+notify"), computes its caps with slixmpp's
own code and sends presence carrying them; Canto then asks it for disco#info and verifies the
ver. slixmpp also reads Canto's caps from the stream features and verifies them with its own
code. Progress goes to stdout as JSON lines:

  {"event": "session_start", "jid": ..., "ver": ..., "node": ...}     (slixmpp's own caps)
  {"event": "server_caps", "ver": ...}                                (Canto's caps, verified by slixmpp)
  {"event": "failed", "reason": ...}

It stays connected until stdin closes (the test is done) or --lifetime seconds pass.
"""
import argparse
import asyncio
import json
import logging
import sys
from pathlib import Path

import slixmpp

INTEREST = "urn:xmpp:avatar:metadata"


def emit(event, **fields):
    print(json.dumps({"event": event, **fields}), flush=True)


class CapsClient(slixmpp.ClientXMPP):
    def __init__(self, jid, password):
        super().__init__(jid, password)
        for plugin in ("xep_0030", "xep_0115", "xep_0163"):
            self.register_plugin(plugin)
        sasl = self["feature_mechanisms"]
        stock_credentials = sasl._default_credentials

        def without_channel_binding(required, optional):
            creds = stock_credentials(required, optional)
            if "channel_binding" in creds:
                creds["channel_binding"] = b""
            return creds

        sasl.sasl_callback = without_channel_binding
        sasl.use_mechs = {"SCRAM-SHA-256", "SCRAM-SHA-1"}
        self.add_event_handler("session_start", self.on_session_start)
        self.add_event_handler("failed_all_auth", lambda _: self.fail("authentication failed"))
        self.add_event_handler("ssl_invalid_chain", lambda e: self.fail(f"TLS certificate rejected: {e}"))
        self.add_event_handler("connection_failed", lambda e: self.fail(f"cannot connect: {e}"))

    def fail(self, reason):
        emit("failed", reason=reason)
        self.disconnect()

    async def on_session_start(self, _event):
        self["xep_0163"].add_interest(INTEREST)
        await self["xep_0115"].update_caps(broadcast=False)
        ver = await self["xep_0115"].get_verstring(self.boundjid.full)
        emit("session_start", jid=self.boundjid.full, ver=ver, node=self["xep_0115"].caps_node)
        self.send_presence()
        # slixmpp verifies the stream feature caps in the background; wait for its verdict.
        for _ in range(100):
            server_ver = await self["xep_0115"].get_verstring(self.boundjid.domain)
            if server_ver:
                emit("server_caps", ver=server_ver)
                return
            await asyncio.sleep(0.1)
        emit("failed", reason="slixmpp did not verify the server's caps")


async def wait_for_stdin_eof(loop):
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while await reader.read(1024):
        pass


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jid", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--ca", required=True)
    parser.add_argument("--lifetime", type=float, default=30)
    parser.add_argument("--debug", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.ERROR, stream=sys.stderr)

    client = CapsClient(args.jid, args.password)
    client.ca_certs = Path(args.ca)
    client.connect((args.host, args.port), force_starttls=True)
    loop = client.loop
    try:
        loop.run_until_complete(asyncio.wait_for(wait_for_stdin_eof(loop), args.lifetime))
    except asyncio.TimeoutError:
        pass
    client.disconnect()
    try:
        loop.run_until_complete(asyncio.wait_for(client.disconnected, 5))
    except asyncio.TimeoutError:
        pass


if __name__ == "__main__":
    main()
