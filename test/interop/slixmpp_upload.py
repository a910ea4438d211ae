#!/usr/bin/python3
"""slixmpp's xep_0363 plugin against Canto's upload service (run by slixmpp-upload.test.ts).

One client logs in like the other agents (slixmpp_common.py: STARTTLS, the server's certificate
as the only CA, SCRAM without channel binding), finds the upload service by disco on its domain
(xep_0363 looks for the store/file identity and reads max-file-size), and uploads --file with
upload_file(): slot request, then aiohttp's PUT. aiohttp builds its TLS context from the
default verify paths, so SSL_CERT_FILE names the server's certificate for it too. Steps are JSON
lines on stdout:

  {"event": "step", "name": ..., "ok": true, ...details}
  {"event": "step", "name": ..., "ok": false, "error": ...}

Exit status 0 only when every step succeeded. Every wait has a timeout.
"""
import argparse
import asyncio
import os
import sys

import slixmpp

from slixmpp_common import add_connection_args, connect, emit, setup_logging, without_channel_binding

WAIT = 20


class Client(slixmpp.ClientXMPP):
    def __init__(self, jid, password):
        super().__init__(jid, password)
        for plugin in ("xep_0030", "xep_0004", "xep_0128", "xep_0363"):
            self.register_plugin(plugin)
        without_channel_binding(self)
        self.started = asyncio.Event()
        self.add_event_handler("session_start", lambda _: self.started.set())


async def scenario(args, client):
    ok = True

    async def step(name, coro):
        nonlocal ok
        try:
            details = await coro
            emit("step", name=name, ok=True, **(details or {}))
        except Exception as e:  # noqa: BLE001 - every failure is reported
            ok = False
            emit("step", name=name, ok=False, error=f"{type(e).__name__}: {e}")

    async def login():
        await asyncio.wait_for(client.started.wait(), WAIT)

    async def discover():
        # xep_0363's own find_upload_service goes through xep_0030.get_info_from_domain, which in
        # slixmpp 1.8.3 hands coroutines to asyncio.wait (refused by Debian 12's Python 3.11). The
        # same discovery, step by step: the domain's disco#items, each item's disco#info, the
        # store/file identity with the feature, max-file-size from the form; upload_file() then
        # skips its own discovery.
        plugin = client["xep_0363"]
        items = await client["xep_0030"].get_items(jid=args.domain, timeout=WAIT)
        for item in items["disco_items"]["items"]:
            info = await client["xep_0030"].get_info(jid=item[0], timeout=WAIT)
            disco = info["disco_info"]
            if ("store", "file") in [(i[0], i[1]) for i in disco["identities"]] and "urn:xmpp:http:upload:0" in disco["features"]:
                plugin.upload_service = info["from"]
                for form in disco.iterables:
                    values = form["values"]
                    if values.get("FORM_TYPE") == ["urn:xmpp:http:upload:0"]:
                        plugin.max_file_size = int(values["max-file-size"])
                return {"service": str(plugin.upload_service), "max_file_size": plugin.max_file_size}
        raise RuntimeError("no upload service found")

    async def upload():
        url = await client["xep_0363"].upload_file(args.file, content_type=args.content_type, timeout=WAIT)
        return {"url": url}

    await step("login", login())
    if ok:
        await step("discover", discover())
    if ok:
        await step("upload", upload())
    return ok


def main():
    parser = argparse.ArgumentParser()
    add_connection_args(parser)
    parser.add_argument("--jid", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--domain", required=True)
    parser.add_argument("--file", required=True)
    parser.add_argument("--content-type", default="application/octet-stream")
    args = parser.parse_args()
    setup_logging(args)
    os.environ["SSL_CERT_FILE"] = args.ca
    client = Client(args.jid, args.password)
    connect(client, args)
    ok = client.loop.run_until_complete(scenario(args, client))
    client.disconnect()
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
