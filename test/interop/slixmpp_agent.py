#!/usr/bin/python3
"""One long-running slixmpp client, driven step by step by a test (slixmpp-im.test.ts).

Logs in like slixmpp_selftest.py (STARTTLS, the server's certificate as the only CA, SCRAM with
channel binding switched off: slixmpp_common.py says why), then reads JSON commands
from stdin, one per line, and writes JSON lines to stdout:

  in:  {"id": "c1", "op": "message", "to": "bob@localhost", "body": "hi", "type": "chat"}
  out: {"event": "result", "id": "c1", "ok": true, ...}            (every command gets one)
       {"event": "result", "id": "c1", "ok": false, "condition": ..., "text": ...}
       {"event": "session_start", "jid": ...}  {"event": "failed", "reason": ...}
       {"event": "presence", "from": ..., "type": ..., "show": ..., "status": ..., "priority": ...}
       {"event": "message", "from": ..., "type": ..., "body": ..., "delay": {"stamp", "from"} | null}
       {"event": "message_error", "from": ..., "condition": ..., "body": ...}
       {"event": "roster_push", "items": [{"jid", "subscription", "ask"}, ...]}
       {"event": "block_push", "jids": [...]}  {"event": "unblock_push", "jids": [...]}

Subscription requests are never answered automatically: the test decides. Every network wait
has a timeout, and the process ends on "quit", when stdin closes (the test died), or after
--lifetime seconds, whichever comes first.
"""
import argparse
import asyncio
import json
import os
import sys
import threading

import slixmpp
from slixmpp.exceptions import IqError, IqTimeout

from slixmpp_common import add_connection_args, connect, emit, setup_logging, without_channel_binding

IQ_TIMEOUT = 5



def items_of(iq):
    return [
        {"jid": str(jid), "subscription": item["subscription"], "ask": item["ask"] or None}
        for jid, item in iq["roster"]["items"].items()
    ]


class Agent(slixmpp.ClientXMPP):
    def __init__(self, jid, password):
        super().__init__(jid, password)
        for plugin in ("xep_0030", "xep_0054", "xep_0092", "xep_0191", "xep_0199", "xep_0203"):
            self.register_plugin(plugin)
        without_channel_binding(self)
        # The test answers subscription requests itself (slixmpp's default accepts them all).
        self.auto_authorize = None
        self.auto_subscribe = False
        self.add_event_handler("session_start", lambda _: emit("session_start", jid=self.boundjid.full))
        self.add_event_handler("failed_all_auth", lambda _: self.stop("authentication failed"))
        self.add_event_handler("connection_failed", lambda e: self.stop(f"cannot connect: {e}"))
        self.add_event_handler("ssl_invalid_chain", lambda e: self.stop(f"TLS certificate rejected: {e}"))
        self.add_event_handler("disconnected", lambda _: emit("disconnected"))
        self.add_event_handler("presence", self.on_presence)
        self.add_event_handler("message", self.on_message)
        self.add_event_handler("message_error", self.on_message_error)
        self.add_event_handler("roster_update", self.on_roster_update)
        self.add_event_handler("blocked", lambda iq: emit("block_push", jids=sorted(str(j) for j in iq["block"]["items"])))
        self.add_event_handler("unblocked", lambda iq: emit("unblock_push", jids=sorted(str(j) for j in iq["unblock"]["items"])))


    def stop(self, reason):
        emit("failed", reason=reason)
        self.disconnect()

    # --- what arrives -------------------------------------------------------------------

    def on_presence(self, pres):
        emit(
            "presence",
            **{"from": str(pres["from"])},
            # The raw attribute: slixmpp reports 'available' or the <show/> for available presence.
            type=pres.xml.get("type"),
            show=pres["show"] or None,
            status=pres["status"] or None,
            priority=pres["priority"],
        )

    def on_message(self, msg):
        if msg["type"] == "error":
            return  # reported by on_message_error
        delay = None
        if msg.xml.find("{urn:xmpp:delay}delay") is not None:
            stamp = msg["delay"]["stamp"]
            delay = {"stamp": stamp.isoformat() if stamp else None, "from": str(msg["delay"]["from"])}
        emit("message", **{"from": str(msg["from"]), "to": str(msg["to"])}, type=msg["type"], body=msg["body"], id=msg["id"], delay=delay)

    def on_message_error(self, msg):
        emit("message_error", **{"from": str(msg["from"])}, condition=msg["error"]["condition"], body=msg["body"], id=msg["id"])

    def on_roster_update(self, iq):
        if iq["type"] == "set":  # a push; a get's result is the command's own answer
            emit("roster_push", items=items_of(iq))

    # --- what the test asks for ---------------------------------------------------------

    async def run_command(self, cmd):
        op = cmd.get("op")
        handler = getattr(self, f"op_{op}", None)
        if handler is None:
            return {"ok": False, "condition": "unknown-op", "text": str(op)}
        try:
            return {"ok": True, **(await handler(cmd) or {})}
        except IqError as e:
            return {"ok": False, "condition": e.iq["error"]["condition"], "text": e.iq["error"]["text"]}
        except IqTimeout:
            return {"ok": False, "condition": "timeout"}

    async def op_roster(self, _cmd):
        """The server's full roster ("items", asked without a version, so never the empty
        "you are up to date" answer) and slixmpp's own copy, kept up to date by the pushes."""
        iq = self.make_iq_get()
        iq.enable("roster")
        answer = await iq.send(timeout=IQ_TIMEOUT)
        self.event("roster_update", answer)
        known = self.client_roster
        kept = [
            {"jid": str(jid), "subscription": known[jid]["subscription"], "ask": "subscribe" if known[jid]["pending_out"] else None}
            for jid in known
            if jid != self.boundjid.bare  # slixmpp lists the own JID
        ]
        return {"items": items_of(answer), "kept": kept}

    async def op_presence(self, cmd):
        self.send_presence(pshow=cmd.get("show"), pstatus=cmd.get("status"), ppriority=cmd.get("priority"), pto=cmd.get("to"), ptype=cmd.get("type"))

    async def op_subscription(self, cmd):
        # subscribe / subscribed / unsubscribe / unsubscribed, to a bare JID.
        self.send_presence_subscription(pto=cmd["to"], ptype=cmd["type"])

    async def op_message(self, cmd):
        self.send_message(mto=cmd["to"], mbody=cmd["body"], mtype=cmd.get("type", "chat"))

    async def op_disco_info(self, cmd):
        iq = await self["xep_0030"].get_info(jid=cmd["to"], local=False, cached=False, timeout=IQ_TIMEOUT)
        info = iq["disco_info"]
        return {"identities": [list(i[:3]) for i in info["identities"]], "features": sorted(info["features"])}

    async def op_ping(self, cmd):
        # send_ping, not ping(): ping() counts an error from the own server as a pong.
        iq = await self["xep_0199"].send_ping(cmd["to"], timeout=IQ_TIMEOUT)
        return {"type": iq["type"]}

    async def op_version(self, cmd):
        iq = await self["xep_0092"].get_version(cmd["to"], timeout=IQ_TIMEOUT)
        version = iq["software_version"]
        return {"name": version["name"], "version": version["version"], "os": version["os"] or None}

    async def op_vcard_set(self, cmd):
        vcard = self["xep_0054"].make_vcard()
        vcard["FN"] = cmd["fn"]
        vcard["NICKNAME"] = cmd["nickname"]
        await self["xep_0054"].publish_vcard(vcard, jid=cmd.get("to"), timeout=IQ_TIMEOUT)

    async def op_vcard_get(self, cmd):
        iq = await self["xep_0054"].get_vcard(cmd["to"], local=False, timeout=IQ_TIMEOUT)
        vcard = iq["vcard_temp"]
        return {"fn": vcard["FN"] or None, "nickname": vcard["NICKNAME"] or None}

    async def op_block(self, cmd):
        await self["xep_0191"].block(cmd["jids"], timeout=IQ_TIMEOUT)

    async def op_report(self, cmd):
        # XEP-0377 through slixmpp's own plugin (1.8.3: the urn:xmpp:reporting:0 form, the
        # report in the <block/>): block cmd["jid"] with a spam or abuse report and a text.
        if "xep_0377" not in self.plugin:
            self.register_plugin("xep_0377")
        iq = self.make_iq_set()
        iq["block"]["items"] = [cmd["jid"]]
        iq["block"]["report"][cmd.get("reason", "spam")] = True
        if cmd.get("text"):
            iq["block"]["report"]["text"] = cmd["text"]
        await iq.send(timeout=IQ_TIMEOUT)

    async def op_unblock(self, cmd):
        await self["xep_0191"].unblock(cmd["jids"], timeout=IQ_TIMEOUT)

    async def op_blocklist(self, _cmd):
        iq = await self["xep_0191"].get_blocked(timeout=IQ_TIMEOUT)
        return {"jids": sorted(str(j) for j in iq["blocklist"]["items"])}


def read_commands(loop, queue):
    """stdin in a thread (portable, never blocks the event loop); None marks its end."""
    for line in sys.stdin:
        line = line.strip()
        if line:
            loop.call_soon_threadsafe(queue.put_nowait, line)
    loop.call_soon_threadsafe(queue.put_nowait, None)


async def serve(agent, queue):
    pending = set()
    while True:
        line = await queue.get()
        if line is None:
            return
        try:
            cmd = json.loads(line)
        except ValueError:
            emit("bad_command", line=line)
            continue
        if cmd.get("op") == "quit":
            emit("result", id=cmd.get("id"), ok=True)
            return

        async def run(cmd=cmd):
            emit("result", id=cmd.get("id"), **await agent.run_command(cmd))

        # Commands run concurrently: a slow iq never holds up a message the test sends next.
        task = asyncio.ensure_future(run())
        pending.add(task)
        task.add_done_callback(pending.discard)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jid", required=True)
    parser.add_argument("--password", required=True)
    add_connection_args(parser)
    parser.add_argument("--lifetime", type=float, default=60, help="exit after this many seconds whatever happens")
    args = parser.parse_args()
    setup_logging(args)

    agent = Agent(args.jid, args.password)
    loop = agent.loop
    queue = asyncio.Queue()
    threading.Thread(target=read_commands, args=(loop, queue), daemon=True).start()
    connect(agent, args)
    try:
        loop.run_until_complete(asyncio.wait_for(serve(agent, queue), args.lifetime))
    except asyncio.TimeoutError:
        emit("failed", reason=f"lifetime of {args.lifetime} s is over")
    agent.disconnect(wait=1)
    try:
        loop.run_until_complete(asyncio.wait_for(agent.disconnected, 3))
    except asyncio.TimeoutError:
        pass
    emit("exit")
    # Straight out: the stdin thread may still be blocked in a read, which can trouble a normal
    # interpreter shutdown; everything worth keeping has been sent and flushed.
    os._exit(0)


if __name__ == "__main__":
    main()
