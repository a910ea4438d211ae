#!/usr/bin/python3
"""slixmpp's xep_0084, xep_0153, xep_0054, xep_0048 against Canto's avatar and bookmarks modules
(run by slixmpp-avatar.test.ts).

Two clients in one process, mutual contacts (the test sets up the rosters), each logging in like
slixmpp_selftest.py (STARTTLS, the server's certificate as the only CA, SCRAM without channel
binding: see that script for why). Steps:

- avatar_pep: the publisher publishes an avatar with xep_0084 (data, then metadata);
- vcard: the contact reads the publisher's vCard with xep_0054 until it has the PHOTO;
- presence_hash: the contact's xep_0153 sees the publisher's presence with the image's hash;
- avatar_vcard: the publisher sets another avatar with xep_0153 (vCard-temp), the contact reads
  the XEP-0084 metadata with xep_0060 and the data with xep_0084;
- bookmarks_private: the publisher stores XEP-0048 bookmarks with xep_0048 (private XML) and
  reads its XEP-0402 items with xep_0060;
- bookmarks_pep: the publisher publishes a XEP-0402 item with xep_0060 and reads its XEP-0048
  bookmarks back with xep_0048 until the room is there.

Every step is a JSON line on stdout:

  {"event": "step", "name": ..., "ok": true, ...details}
  {"event": "step", "name": ..., "ok": false, "error": ...}

Exit status 0 only when every step succeeded. Every wait has a timeout; polling waits are short
turns of the event loop up to that timeout, never a fixed sleep.
"""
import argparse
import asyncio
import base64
import hashlib
from xml.etree import ElementTree as ET

import slixmpp

from slixmpp_common import Steps, add_connection_args, emit, run_clients, setup_logging, without_channel_binding
from slixmpp.plugins.xep_0048 import Bookmarks

WAIT = 10
NS_META = "urn:xmpp:avatar:metadata"
NS_B2 = "urn:xmpp:bookmarks:1"
# A real 1x1 PNG, and a second image (a PNG header claiming 64x48).
PNG_A = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==")
PNG_B = bytes([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13]) + b"IHDR" + (64).to_bytes(4, "big") + (48).to_bytes(4, "big") + bytes(16)



def sha1(data):
    return hashlib.sha1(data).hexdigest()


class Client(slixmpp.ClientXMPP):
    def __init__(self, jid, password):
        super().__init__(jid, password)
        for plugin in ("xep_0004", "xep_0030", "xep_0060", "xep_0163", "xep_0084", "xep_0054", "xep_0153", "xep_0049", "xep_0048"):
            self.register_plugin(plugin)
        without_channel_binding(self)
        self.started = asyncio.Event()
        self.hashes = asyncio.Queue()
        self.add_event_handler("session_start", self.on_session_start)
        self.add_event_handler("vcard_avatar_update", lambda p: self.hashes.put_nowait((str(p["from"].bare), p["vcard_temp_update"]["photo"])))

    async def on_session_start(self, _event):
        self.send_presence()
        await self.get_roster()
        self.started.set()


async def until(check, what):
    """Run `check` (async) until it returns something truthy, for at most WAIT seconds."""
    deadline = asyncio.get_running_loop().time() + WAIT
    while True:
        value = await check()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(what)
        await asyncio.sleep(0.05)


async def scenario(pub, contact):
    steps = Steps()
    step = steps.run
    owner = pub.boundjid.bare


    async def avatar_pep():
        await pub["xep_0084"].publish_avatar(PNG_A, timeout=WAIT)
        await pub["xep_0084"].publish_avatar_metadata({"id": sha1(PNG_A), "type": "image/png", "bytes": str(len(PNG_A)), "width": "1", "height": "1"}, timeout=WAIT)
        return {"id": sha1(PNG_A)}

    async def vcard():
        async def photo():
            iq = await contact["xep_0054"].get_vcard(owner, cached=False, timeout=WAIT)
            p = iq["vcard_temp"]["PHOTO"]
            return p if p["BINVAL"] else None

        p = await until(photo, "no PHOTO in the vCard")
        return {"type": p["TYPE"], "sha1": sha1(p["BINVAL"])}

    async def presence_hash():
        async def seen():
            jid, photo = await asyncio.wait_for(contact.hashes.get(), WAIT)
            return photo if jid == owner and photo == sha1(PNG_A) else None

        return {"photo": await until(seen, "no presence with the hash")}

    async def avatar_vcard():
        await pub["xep_0153"].set_avatar(avatar=PNG_B, mtype="image/png", timeout=WAIT)
        iq = await contact["xep_0060"].get_items(owner, NS_META, timeout=WAIT)
        items = list(iq["pubsub"]["items"])
        info = items[0]["payload"].find(f"{{{NS_META}}}info")
        data = await contact["xep_0084"].retrieve_avatar(owner, info.get("id"), timeout=WAIT)
        value = data["pubsub"]["items"]["item"]["avatar_data"]["value"]
        return {"id": items[0]["id"], "info_id": info.get("id"), "bytes": info.get("bytes"), "width": info.get("width"), "height": info.get("height"), "data_sha1": sha1(value)}

    async def bookmarks_private():
        b = Bookmarks()
        b.add_conference("verona@conference.localhost", "Romeo", name="Verona", autojoin=True, password="balcony")
        b.add_url("https://globe.example/", name="Globe")
        await pub["xep_0048"].set_bookmarks(b, method="xep_0049", timeout=WAIT)
        iq = await pub["xep_0060"].get_items(owner, NS_B2, timeout=WAIT)
        items = list(iq["pubsub"]["items"])
        conf = items[0]["payload"] if items else None
        return {
            "ids": [i["id"] for i in items],
            "room_name": conf.get("name") if conf is not None else None,
            "autojoin": conf.get("autojoin") if conf is not None else None,
            "nick": conf.findtext(f"{{{NS_B2}}}nick") if conf is not None else None,
        }

    async def bookmarks_pep():
        conf = ET.Element(f"{{{NS_B2}}}conference", {"name": "Mantua", "autojoin": "false"})
        ET.SubElement(conf, f"{{{NS_B2}}}nick").text = "Exile"
        await pub["xep_0060"].publish(owner, NS_B2, id="mantua@conference.localhost", payload=conf, timeout=WAIT)

        async def listed():
            iq = await pub["xep_0048"].get_bookmarks(method="xep_0049", timeout=WAIT)
            confs = iq["private"]["bookmarks"]["conferences"]
            jids = sorted(str(c["jid"]) for c in confs)
            return (jids, iq) if "mantua@conference.localhost" in jids else None

        jids, iq = await until(listed, "the XEP-0402 room is not in the XEP-0048 bookmarks")
        urls = [u["url"] for u in iq["private"]["bookmarks"]["urls"]]
        return {"jids": jids, "urls": urls}

    await step("avatar_pep", avatar_pep())
    await step("vcard", vcard())
    await step("presence_hash", presence_hash())
    await step("avatar_vcard", avatar_vcard())
    await step("bookmarks_private", bookmarks_private())
    await step("bookmarks_pep", bookmarks_pep())
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
    run_clients([pub, contact], args, lambda: scenario(pub, contact))


if __name__ == "__main__":
    main()
