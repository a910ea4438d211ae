#!/usr/bin/python3
"""slixmpp's xep_0060 plugin against Canto's pubsub service (run by slixmpp-pubsub.test.ts).

Two clients in one process: a publisher and a subscriber, each logging in like
slixmpp_selftest.py (STARTTLS, the server's certificate as the only CA, SCRAM without channel
binding: see that script for why). The publisher creates a node at --service, the subscriber
subscribes, the publisher publishes, the subscriber receives the notification and reads the
items, the publisher retracts (the subscriber is told) and deletes the node (told again).
Every step is a JSON line on stdout:

  {"event": "step", "name": ..., "ok": true, ...details}
  {"event": "step", "name": ..., "ok": false, "error": ...}

Exit status 0 only when every step succeeded. Every wait has a timeout.
"""
import argparse
import asyncio
from xml.etree import ElementTree as ET

import slixmpp

from slixmpp_common import Steps, add_connection_args, emit, run_clients, setup_logging, without_channel_binding

WAIT = 10
NS_TUNE = "urn:example:tune"



class Client(slixmpp.ClientXMPP):
    def __init__(self, jid, password):
        super().__init__(jid, password)
        for plugin in ("xep_0004", "xep_0030", "xep_0060"):
            self.register_plugin(plugin)
        without_channel_binding(self)
        self.started = asyncio.Event()
        self.events = {name: asyncio.Queue() for name in ("publish", "retract", "delete")}
        self.add_event_handler("session_start", lambda _: self.started.set())
        self.add_event_handler("pubsub_publish", lambda m: self.events["publish"].put_nowait(m))
        self.add_event_handler("pubsub_retract", lambda m: self.events["retract"].put_nowait(m))
        self.add_event_handler("pubsub_delete", lambda m: self.events["delete"].put_nowait(m))

    async def next_event(self, kind):
        return await asyncio.wait_for(self.events[kind].get(), WAIT)


async def scenario(args, pub, sub):
    service, node = args.service, args.node
    ps_pub, ps_sub = pub["xep_0060"], sub["xep_0060"]
    steps = Steps()
    step = steps.run


    async def create():
        await ps_pub.create_node(service, node, timeout=WAIT)

    async def subscribe():
        iq = await ps_sub.subscribe(service, node, bare=False, timeout=WAIT)
        s = iq["pubsub"]["subscription"]
        return {"subscription": s["subscription"], "jid": str(s["jid"])}

    async def publish():
        tune = ET.Element(f"{{{NS_TUNE}}}tune")
        title = ET.SubElement(tune, f"{{{NS_TUNE}}}title")
        title.text = "Yesterday"
        iq = await ps_pub.publish(service, node, id="song-1", payload=tune, timeout=WAIT)
        return {"id": iq["pubsub"]["publish"]["item"]["id"]}

    async def notified():
        msg = await sub.next_event("publish")
        item = msg["pubsub_event"]["items"]["item"]
        payload = item["payload"]
        return {"from": str(msg["from"]), "node": msg["pubsub_event"]["items"]["node"], "id": item["id"], "title": payload.findtext(f"{{{NS_TUNE}}}title") if payload is not None else None}

    async def get_items():
        iq = await ps_sub.get_items(service, node, timeout=WAIT)
        return {"ids": [i["id"] for i in iq["pubsub"]["items"]]}

    async def retract():
        await ps_pub.retract(service, node, "song-1", notify=True, timeout=WAIT)
        msg = await sub.next_event("retract")
        return {"retracted": msg["pubsub_event"]["items"]["retract"]["id"]}

    async def delete():
        await ps_pub.delete_node(service, node, timeout=WAIT)
        msg = await sub.next_event("delete")
        return {"deleted": msg["pubsub_event"]["delete"]["node"]}

    await step("create", create())
    await step("subscribe", subscribe())
    await step("publish", publish())
    await step("notified", notified())
    await step("items", get_items())
    await step("retract", retract())
    await step("delete", delete())
    return steps.ok


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--publisher", required=True)
    parser.add_argument("--subscriber", required=True)
    parser.add_argument("--password", required=True)
    add_connection_args(parser)
    parser.add_argument("--service", required=True)
    parser.add_argument("--node", required=True)
    args = parser.parse_args()
    setup_logging(args)

    pub = Client(args.publisher, args.password)
    sub = Client(args.subscriber, args.password)
    run_clients([pub, sub], args, lambda: scenario(args, pub, sub))


if __name__ == "__main__":
    main()
