#!/usr/bin/python3
"""slixmpp's XEP-0163 (with xep_0060, xep_0115, xep_0118) against Canto's PEP (run by slixmpp-pep.test.ts).

Two clients in one process, mutual contacts (the test sets up the rosters), each logging in like
slixmpp_selftest.py (STARTTLS, the server's certificate as the only CA, SCRAM without channel
binding: see that script for why). Both load xep_0118 (User Tune), so their caps announce
`http://jabber.org/protocol/tune+notify`; both send presence with those caps. The agent then
prints {"event": "ready", "publisher": jid, "contact": jid} and waits for a line on stdin (the test
waits until Canto has verified the caps). Then the publisher publishes a tune to its own PEP
service, the contact receives the notification, the contact and the publisher read the item
back with xep_0060, and the publisher retracts it (the contact is told). Every step is a JSON line:

  {"event": "step", "name": ..., "ok": true, ...details}
  {"event": "step", "name": ..., "ok": false, "error": ...}

Exit status 0 only when every step succeeded. Every wait has a timeout.
"""
import argparse
import asyncio
import sys

import slixmpp

from slixmpp_common import Steps, add_connection_args, emit, run_clients, setup_logging, without_channel_binding

WAIT = 10
NS_TUNE = "http://jabber.org/protocol/tune"



class Client(slixmpp.ClientXMPP):
    def __init__(self, jid, password):
        super().__init__(jid, password)
        for plugin in ("xep_0004", "xep_0030", "xep_0060", "xep_0115", "xep_0163", "xep_0118"):
            self.register_plugin(plugin)
        without_channel_binding(self)
        self.started = asyncio.Event()
        self.tunes = asyncio.Queue()
        self.retracts = asyncio.Queue()
        self.add_event_handler("session_start", self.on_session_start)
        self.add_event_handler("user_tune_publish", lambda m: self.tunes.put_nowait(m))
        self.add_event_handler("user_tune_retract", lambda m: self.retracts.put_nowait(m))

    async def on_session_start(self, _event):
        await self["xep_0115"].update_caps(broadcast=False)
        self.send_presence()
        self.started.set()


async def read_line(loop):
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    return await reader.readline()


async def scenario(pub, contact):
    steps = Steps()
    step = steps.run
    owner = pub.boundjid.bare


    async def publish():
        iq = await pub["xep_0118"].publish_tune(artist="Nina Simone", title="Feeling Good", timeout=WAIT)
        return {"id": iq["pubsub"]["publish"]["item"]["id"]}

    async def notified():
        msg = await asyncio.wait_for(contact.tunes.get(), WAIT)
        item = msg["pubsub_event"]["items"]["item"]
        tune = item["tune"]
        return {"from": str(msg["from"]), "node": msg["pubsub_event"]["items"]["node"], "id": item["id"], "artist": tune["artist"], "title": tune["title"]}

    async def contact_items():
        iq = await contact["xep_0060"].get_items(owner, NS_TUNE, timeout=WAIT)
        return {"ids": [i["id"] for i in iq["pubsub"]["items"]]}

    async def own_items():
        iq = await pub["xep_0060"].get_items(owner, NS_TUNE, timeout=WAIT)
        items = [i for i in iq["pubsub"]["items"]]
        payload = items[0]["payload"] if items else None
        return {"ids": [i["id"] for i in items], "artist": payload.findtext(f"{{{NS_TUNE}}}artist") if payload is not None else None}

    async def retract():
        iq = await pub["xep_0060"].get_items(owner, NS_TUNE, timeout=WAIT)
        item_id = [i["id"] for i in iq["pubsub"]["items"]][0]
        await pub["xep_0060"].retract(owner, NS_TUNE, item_id, notify=True, timeout=WAIT)
        msg = await asyncio.wait_for(contact.retracts.get(), WAIT)
        return {"retracted": msg["pubsub_event"]["items"]["retract"]["id"]}

    await step("publish", publish())
    await step("notified", notified())
    await step("contact_items", contact_items())
    await step("own_items", own_items())
    await step("retract", retract())
    return steps.ok


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--publisher", required=True)
    parser.add_argument("--contact", required=True)
    parser.add_argument("--password", required=True)
    add_connection_args(parser)
    args = parser.parse_args()
    setup_logging(args)

    pub = Client(args.publisher, args.password)
    contact = Client(args.contact, args.password)

    async def go(loop):
        emit("ready", publisher=pub.boundjid.full, contact=contact.boundjid.full)
        try:
            await asyncio.wait_for(read_line(loop), 30)
        except asyncio.TimeoutError:
            emit("step", name="go", ok=False, error="the test did not say go within 30 s")
            return False
        return True

    run_clients([pub, contact], args, lambda: scenario(pub, contact), on_login=go)


if __name__ == "__main__":
    main()
