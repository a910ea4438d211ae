#!/usr/bin/python3
"""slixmpp's XEP-0115 against Canto, both ways (run by slixmpp-caps.test.ts).

Logs in like slixmpp_selftest.py (STARTTLS, the server's certificate as the only CA, SCRAM with
channel binding off: slixmpp_common.py says why), with the xep_0115 and xep_0163 plugins. It
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
import sys

import slixmpp

from slixmpp_common import add_connection_args, connect, emit, setup_logging, without_channel_binding

INTEREST = "urn:xmpp:avatar:metadata"



class CapsClient(slixmpp.ClientXMPP):
    def __init__(self, jid, password):
        super().__init__(jid, password)
        for plugin in ("xep_0030", "xep_0115", "xep_0163"):
            self.register_plugin(plugin)
        without_channel_binding(self)
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
    add_connection_args(parser)
    parser.add_argument("--lifetime", type=float, default=30)
    args = parser.parse_args()
    setup_logging(args)

    client = CapsClient(args.jid, args.password)
    connect(client, args)
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
