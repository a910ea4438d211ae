"""What every slixmpp agent of the test suite does the same way (imported by the slixmpp_*.py scripts).

- emit(): progress as one JSON line on stdout, the only channel the TypeScript tests read.
- without_channel_binding(): slixmpp 1.8 knows only the tls-unique channel binding, which TLS 1.3
  does not define, and ignores XEP-0440's list of the server's types. Left alone it tries
  SCRAM-*-PLUS with tls-unique, then plain SCRAM with the "y" flag ("I could bind, I think you
  cannot"), which a server that offered -PLUS must refuse (RFC 5802 downgrade detection). This
  makes it a client without channel binding (gs2 flag "n", no -PLUS), as XEP-0440 §3 allows when
  there is no mutual binding type.
- add_connection_args() / connect(): the server's address, its self-signed certificate as the
  only trusted CA (the name is still checked), STARTTLS, and logging to stderr.
"""
import json
import logging
import sys
from pathlib import Path


def emit(event, **fields):
    print(json.dumps({"event": event, **fields}, default=str), flush=True)


def without_channel_binding(client, restrict_mechanisms=True):
    sasl = client["feature_mechanisms"]
    stock_credentials = sasl._default_credentials

    def credentials(required, optional):
        creds = stock_credentials(required, optional)
        if "channel_binding" in creds:
            creds["channel_binding"] = b""
        return creds

    sasl.sasl_callback = credentials
    if restrict_mechanisms:
        sasl.use_mechs = {"SCRAM-SHA-256", "SCRAM-SHA-1"}


def add_connection_args(parser):
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--ca", required=True, help="PEM file of the server's certificate, trusted as the only CA")
    parser.add_argument("--debug", action="store_true")


def setup_logging(args):
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.ERROR, stream=sys.stderr)


def connect(client, args):
    client.ca_certs = Path(args.ca)
    client.connect((args.host, args.port), force_starttls=True)


class Steps:
    """Named steps run in order, each reported as one JSON line ("step", name, ok, details or error).

    A failing step is reported and the next one still runs, so a test sees every failure at once;
    `ok` says whether all of them succeeded.
    """

    def __init__(self):
        self.ok = True

    async def run(self, name, coro):
        try:
            details = await coro
            emit("step", name=name, ok=True, **(details or {}))
        except Exception as e:  # noqa: BLE001 - every failure is reported, then the next step runs
            self.ok = False
            emit("step", name=name, ok=False, error=f"{type(e).__name__}: {e!r}")


def run_clients(clients, args, scenario, on_login=None, login_timeout=15):
    """Runs several logged-in clients on one event loop and exits with the scenario's verdict.

    Each client must set an asyncio.Event `started` on session_start. The clients connect, and
    once all have a session (within login_timeout seconds, else a failed "login" step),
    `on_login(loop)` runs (default: a successful "login" step; it may return False to stop), then
    `scenario()`, a coroutine function returning True when every step succeeded. Exit status 0
    only then.
    """
    import asyncio

    loop = clients[0].loop
    for c in clients[1:]:
        c.loop = loop
    for c in clients:
        connect(c, args)

    async def run():
        try:
            await asyncio.wait_for(asyncio.gather(*(c.started.wait() for c in clients)), login_timeout)
        except asyncio.TimeoutError:
            emit("step", name="login", ok=False, error=f"no session within {login_timeout} s")
            return False
        if on_login is None:
            emit("step", name="login", ok=True)
        elif await on_login(loop) is False:
            return False
        return await scenario()

    ok = loop.run_until_complete(run())
    for c in clients:
        c.disconnect()
    sys.exit(0 if ok else 1)
