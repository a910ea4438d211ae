"""Runs ad-hoc commands (XEP-0050) with slixmpp's xep_0050 and xep_0133 plugins, for slixmpp-adhoc.test.ts.

--cases is a JSON list of {"name", "node" (a full node, or the XEP-0133 command name, run with
the xep_0133 plugin's method of that name), "fields" (a dict, or null to run without a form),
"form_type"}. Each case executes the command, fills the form it gets with the given fields
(type submit) and completes it, then prints one line: {"event": "case", "name", "type"
("result"/"error"), "status", "condition", "fields", "notes"}. Then "done".
"""
import argparse
import asyncio
import json

import slixmpp

from slixmpp_common import add_connection_args, connect, emit, setup_logging, without_channel_binding

ADMIN = "http://jabber.org/protocol/admin"


class Agent(slixmpp.ClientXMPP):
    def __init__(self, jid, password, cases):
        super().__init__(jid, password)
        self.cases = cases
        for plugin in ("xep_0004", "xep_0030", "xep_0050", "xep_0133"):
            self.register_plugin(plugin)
        without_channel_binding(self)
        self.add_event_handler("session_start", self.start)

    def report(self, case, iq):
        command = iq["command"]
        # Read from the XML: slixmpp's Form plugin is not attached to the command stanza here.
        fields = {}
        for field in command.xml.findall("{jabber:x:data}x/{jabber:x:data}field"):
            fields[field.get("var")] = [v.text or "" for v in field.findall("{jabber:x:data}value")]
        emit("case", name=case["name"], type=iq["type"], status=command["status"],
             condition=iq["error"]["condition"] if iq["type"] == "error" else None,
             fields=fields, notes=[text for _, text in command["notes"]])

    async def run_case(self, case):
        done = asyncio.get_running_loop().create_future()

        def finish(iq, session):
            # slixmpp files a reply without sessionid (an error before any session) under
            # "client:", and would hand the next such reply to this finished case.
            self["xep_0050"].sessions.pop("client:", None)
            self.report(case, iq)
            if not done.done():
                done.set_result(None)

        def on_form(iq, session):
            if iq["command"]["status"] == "completed" or case.get("fields") is None:
                return finish(iq, session)
            form = self["xep_0004"].make_form(ftype="submit")
            if case.get("form_type"):
                form.add_field(var="FORM_TYPE", ftype="hidden", value=case["form_type"])
            for var, value in case["fields"].items():
                form.add_field(var=var, value=value)
            session["payload"] = form
            session["next"] = finish
            self["xep_0050"].complete_command(session)

        session = {"next": on_form, "error": finish}
        node = case["node"]
        method = node.replace("-", "_")
        if "#" not in node and ":" not in node and hasattr(self["xep_0133"], method):
            getattr(self["xep_0133"], method)(session=session)
        else:
            self["xep_0050"].start_command(jid=self.boundjid.server, node=node, session=session)
        await asyncio.wait_for(done, 15)

    async def start(self, _event):
        self.send_presence()
        items = await self["xep_0050"].get_commands(self.boundjid.server)
        emit("commands", nodes=[item[1] for item in items["disco_items"]["items"]])
        for case in self.cases:
            await self.run_case(case)
        emit("done")
        self.disconnect()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--jid", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--cases", required=True)
    add_connection_args(parser)
    args = parser.parse_args()
    setup_logging(args)
    agent = Agent(args.jid, args.password, json.loads(args.cases))
    connect(agent, args)
    agent.loop.run_until_complete(agent.disconnected)


if __name__ == "__main__":
    main()
