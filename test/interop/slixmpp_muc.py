#!/usr/bin/python3
"""slixmpp's xep_0045 plugin against Canto's MUC service (run by slixmpp-muc.test.ts).

Two clients in one process (logged in as slixmpp_selftest.py does): the owner creates a room
with join_muc_wait (status 201), makes it an instant room (an empty muc#owner submission), the
guest joins and sees the owner, both exchange groupchat messages, the guest changes its
nickname (303, then the new presence), the owner changes the subject, and the guest leaves.
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
NS_OWNER = "http://jabber.org/protocol/muc#owner"
NS_USER = "http://jabber.org/protocol/muc#user"


class Client(slixmpp.ClientXMPP):
    def __init__(self, jid, password, room):
        super().__init__(jid, password)
        for plugin in ("xep_0004", "xep_0030", "xep_0045"):
            self.register_plugin(plugin)
        without_channel_binding(self)
        self.started = asyncio.Event()
        self.queues = {name: asyncio.Queue() for name in ("message", "online", "offline", "subject")}
        self.add_event_handler("session_start", lambda _: self.started.set())
        self.add_event_handler(f"muc::{room}::message", lambda m: self.queues["message"].put_nowait(m))
        self.add_event_handler(f"muc::{room}::got_online", lambda p: self.queues["online"].put_nowait(p))
        self.add_event_handler(f"muc::{room}::got_offline", lambda p: self.queues["offline"].put_nowait(p))
        self.add_event_handler(f"muc::{room}::groupchat_subject", lambda m: self.queues["subject"].put_nowait(m))

    async def next(self, kind, test=lambda _: True):
        while True:
            s = await asyncio.wait_for(self.queues[kind].get(), WAIT)
            if test(s):
                return s


def status_codes(stanza):
    x = stanza.xml.find(f"{{{NS_USER}}}x")
    return sorted(int(s.get("code")) for s in x.findall(f"{{{NS_USER}}}status")) if x is not None else []


async def scenario(args, owner, guest):
    room = args.room
    muc_owner, muc_guest = owner["xep_0045"], guest["xep_0045"]
    steps = Steps()
    step = steps.run


    async def create():
        presence, _subject, _occupants, _history = await muc_owner.join_muc_wait(room, "Owner", maxstanzas=0, timeout=WAIT)
        return {"codes": status_codes(presence)}

    async def instant():
        iq = owner.make_iq_set(ito=room)
        query = ET.Element(f"{{{NS_OWNER}}}query")
        ET.SubElement(query, "{jabber:x:data}x", type="submit")
        iq.append(query)
        result = await iq.send(timeout=WAIT)
        return {"type": result["type"]}

    async def join():
        presence, _subject, occupants, _history = await muc_guest.join_muc_wait(room, "Guest", maxstanzas=10, timeout=WAIT)
        return {"codes": status_codes(presence), "occupants": sorted(str(p["from"].resource) for p in occupants)}

    async def owner_sees_guest():
        p = await owner.next("online", lambda p: p["from"].resource == "Guest")
        return {"nick": p["from"].resource, "role": p["muc"]["role"]}

    async def messages():
        owner.send_message(mto=room, mbody="hello from the owner", mtype="groupchat")
        m = await guest.next("message", lambda m: m["body"] == "hello from the owner")
        guest.send_message(mto=room, mbody="hello from the guest", mtype="groupchat")
        back = await owner.next("message", lambda m: m["body"] == "hello from the guest")
        return {"guest_got_from": str(m["from"]), "owner_got_from": str(back["from"])}

    async def nick_change():
        guest.send_presence(pto=f"{room}/Visitor")
        gone = await owner.next("offline", lambda p: p["from"].resource == "Guest")
        came = await owner.next("online", lambda p: p["from"].resource == "Visitor")
        item = gone.xml.find(f"{{{NS_USER}}}x/{{{NS_USER}}}item")
        return {"codes": status_codes(gone), "new_nick": item.get("nick") if item is not None else None, "online": came["from"].resource}

    async def subject():
        muc_owner.set_subject(room, "Interop")
        m = await guest.next("subject", lambda m: m["subject"] == "Interop")
        return {"subject": m["subject"], "from": str(m["from"])}

    async def leave():
        muc_guest.leave_muc(room, "Visitor")
        p = await owner.next("offline", lambda p: p["from"].resource == "Visitor")
        return {"type": p["type"]}

    await step("create", create())
    await step("instant", instant())
    await step("join", join())
    await step("owner_sees_guest", owner_sees_guest())
    await step("messages", messages())
    await step("nick_change", nick_change())
    await step("subject", subject())
    await step("leave", leave())
    return steps.ok


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--owner", required=True)
    parser.add_argument("--guest", required=True)
    parser.add_argument("--password", required=True)
    add_connection_args(parser)
    parser.add_argument("--room", required=True)
    args = parser.parse_args()
    setup_logging(args)

    owner = Client(args.owner, args.password, args.room)
    guest = Client(args.guest, args.password, args.room)
    run_clients([owner, guest], args, lambda: scenario(args, owner, guest))


if __name__ == "__main__":
    main()
