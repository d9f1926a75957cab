#!/usr/bin/python3
"""Drive Herald with slixmpp, a real XMPP client library, from a scenario.

Usage: slixclient.py SCENARIO.json

The scenario is {"host", "port", "tls_port", "cafile", "clients": {name:
{jid, password, mech, tls12, direct_tls}}, "steps": [...]}. Each step is
{"client": name, "op": ...}; ops are connect, presence, send, expect,
expect_error, expect_none, ping, disconnect. Every step waits for the server's answer (session start,
a ping round trip, an incoming stanza) rather than sleeping, so ordering,
not timing, makes the run reliable. One JSON line is printed per step; the
exit status is 0 only when every step passed.
"""
import asyncio
import json
import logging
import ssl
import sys

import slixmpp
from slixmpp.exceptions import IqError, IqTimeout

TIMEOUT = 20


class Client(slixmpp.ClientXMPP):
    def __init__(self, name, spec, cafile):
        super().__init__(spec["jid"], spec["password"], sasl_mech=spec.get("mech"))
        self.name = name
        self.inbox = asyncio.Queue()
        self.started = asyncio.Event()
        self.failed = None
        self.mech_used = None
        ctx = ssl.create_default_context(cafile=cafile)
        if spec.get("tls12"):
            ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        self.ssl_context = ctx
        # Never let the library answer subscriptions on the user's behalf.
        self.roster.auto_authorize = False
        self.roster.auto_subscribe = False
        if spec.get("no_cb"):
            # A client without channel-binding support: it must send the
            # gs2 flag "n", never "y" (RFC 5802 6).
            mechs = self["feature_mechanisms"]
            orig = mechs.sasl_callback

            def no_cb(required, optional):
                creds = orig(required, optional)
                if "channel_binding" in creds:
                    creds["channel_binding"] = None
                return creds
            mechs.sasl_callback = no_cb
        self.register_plugin("xep_0199")
        self.register_plugin("xep_0203")
        self.add_event_handler("session_start", self._started)
        self.failures = []
        self.add_event_handler("failed_auth", lambda st: self.failures.append(str(st)))
        self.add_event_handler("failed_all_auth", self._failed)
        self.add_event_handler("connection_failed", self._failed)
        self.add_event_handler("message", self._message)
        self.add_event_handler("auth_success", self._auth)

    def _auth(self, _):
        self.mech_used = self["feature_mechanisms"].mech.name if self["feature_mechanisms"].mech else None

    async def _started(self, _):
        self.started.set()

    def _failed(self, err):
        self.failed = (str(err) or "authentication failed") + " after " + "; ".join(self.failures)
        self.started.set()

    def _message(self, msg):
        self.inbox.put_nowait(msg)


async def run(sc):
    clients = {}
    ok = True
    for step in sc["steps"]:
        name = step["client"]
        op = step["op"]
        out = {"client": name, "op": op, "ok": True}
        try:
            if op == "connect":
                spec = sc["clients"][name]
                c = Client(name, spec, sc["cafile"])
                clients[name] = c
                if spec.get("direct_tls"):
                    c.connect((sc["host"], sc["tls_port"]), use_ssl=True)
                else:
                    c.connect((sc["host"], sc["port"]))
                await asyncio.wait_for(c.started.wait(), TIMEOUT)
                if c.failed:
                    raise RuntimeError(c.failed)
                out["jid"] = str(c.boundjid)
                out["mech"] = c.mech_used
                out["failed_attempts"] = len(c.failures)
            elif op == "presence":
                c = clients[name]
                c.send_presence(ppriority=step.get("priority", 0))
                await c.plugin["xep_0199"].ping(jid=c.boundjid.domain, timeout=TIMEOUT)
            elif op == "send":
                c = clients[name]
                c.send_message(mto=step["to"], mbody=step["body"], mtype=step.get("type", "chat"))
                # A ping round trip: the server has handled the message
                # (stored it, for an offline contact) once it answers.
                await c.plugin["xep_0199"].ping(jid=c.boundjid.domain, timeout=TIMEOUT)
            elif op == "expect":
                c = clients[name]
                msg = await asyncio.wait_for(c.inbox.get(), TIMEOUT)
                out["from"] = str(msg["from"])
                out["to"] = str(msg["to"])
                out["body"] = msg["body"]
                out["type"] = msg["type"]
                out["delayed"] = bool(msg.xml.find("{urn:xmpp:delay}delay") is not None)
                if "body" in step and msg["body"] != step["body"]:
                    raise RuntimeError("expected body %r, got %r" % (step["body"], msg["body"]))
                if "from_bare" in step and msg["from"].bare != step["from_bare"]:
                    raise RuntimeError("expected from %r, got %r" % (step["from_bare"], str(msg["from"])))
            elif op == "expect_error":
                c = clients[name]
                msg = await asyncio.wait_for(c.inbox.get(), TIMEOUT)
                out["type"] = msg["type"]
                out["condition"] = msg["error"]["condition"]
                if msg["type"] != "error":
                    raise RuntimeError("expected an error, got %s" % msg)
            elif op == "expect_none":
                # Everything the server sent before answering a ping has
                # arrived once the answer has.
                c = clients[name]
                await c.plugin["xep_0199"].ping(jid=c.boundjid.domain, timeout=TIMEOUT)
                if not c.inbox.empty():
                    msg = c.inbox.get_nowait()
                    raise RuntimeError("expected nothing, got %s" % msg)
            elif op == "ping":
                c = clients[name]
                await c.plugin["xep_0199"].ping(jid=step.get("to", c.boundjid.domain), timeout=TIMEOUT)
            elif op == "disconnect":
                c = clients.pop(name)
                await asyncio.wait_for(c.disconnect(), TIMEOUT)
            else:
                raise RuntimeError("unknown op " + op)
        except (IqError, IqTimeout, asyncio.TimeoutError, RuntimeError, KeyError) as e:
            out["ok"] = False
            out["error"] = "%s: %s" % (type(e).__name__, e)
            ok = False
        print(json.dumps(out), flush=True)
        if not ok:
            break
    for c in clients.values():
        c.disconnect()
    return ok


def main():
    logging.basicConfig(level=logging.ERROR)
    with open(sys.argv[1]) as f:
        sc = json.load(f)
    ok = asyncio.run(run(sc))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
