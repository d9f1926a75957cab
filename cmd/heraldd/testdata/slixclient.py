#!/usr/bin/python3
"""Drive Herald with slixmpp, a real XMPP client library, from a scenario.

Usage: slixclient.py SCENARIO.json

The scenario is {"host", "port", "tls_port", "cafile", "clients": {name:
{jid, password, mech, tls12, direct_tls}}, "steps": [...]}. A client may
carry its own "host", "port", "tls_port" and "cafile", which override the
scenario's (clients of different servers, as in the federation tests). Each step is
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
import xml.etree.ElementTree as ET

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
        # Never let the library answer subscriptions on the user's behalf:
        # None disables its automatic handling (False would auto-deny).
        self.roster.auto_authorize = None
        self.roster.auto_subscribe = False
        self.presences = asyncio.Queue()
        self.pushes = asyncio.Queue()
        self.presence_errors = []
        self.add_event_handler("presence", self._presence)
        self.add_event_handler("roster_update", self._roster_update)
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

    def _presence(self, p):
        if p["type"] == "error":
            self.presence_errors.append(p)
        self.presences.put_nowait(p)

    def _roster_update(self, iq):
        if iq["type"] == "set":
            self.pushes.put_nowait(iq)

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
                srv = lambda k: spec.get(k, sc.get(k))
                c = Client(name, spec, srv("cafile"))
                clients[name] = c
                if spec.get("direct_tls"):
                    c.connect((srv("host"), srv("tls_port")), use_ssl=True)
                else:
                    c.connect((srv("host"), srv("port")))
                await asyncio.wait_for(c.started.wait(), TIMEOUT)
                if c.failed:
                    raise RuntimeError(c.failed)
                out["jid"] = str(c.boundjid)
                out["mech"] = c.mech_used
                out["failed_attempts"] = len(c.failures)
            elif op == "presence":
                c = clients[name]
                c.send_presence(ppriority=step.get("priority", 0), pstatus=step.get("status"))
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
            elif op == "presence_to":
                c = clients[name]
                p = c.make_presence(pto=step["to"], ptype=step.get("type"))
                if "nick" in step:
                    nick = ET.SubElement(p.xml, "{http://jabber.org/protocol/nick}nick")
                    nick.text = step["nick"]
                p.send()
                await c.plugin["xep_0199"].ping(jid=c.boundjid.domain, timeout=TIMEOUT)
                # A refusal comes back before the ping's answer.
                for e in c.presence_errors:
                    if e["from"].bare == step["to"]:
                        c.presence_errors.remove(e)
                        raise RuntimeError("refused: %s" % e["error"]["condition"])
            elif op == "expect_presence":
                c = clients[name]
                while True:
                    p = await asyncio.wait_for(c.presences.get(), TIMEOUT)
                    if p["type"] == step["type"] and ("from_bare" not in step or p["from"].bare == step["from_bare"]):
                        break
                out["from"] = str(p["from"])
                nick = p.xml.find("{http://jabber.org/protocol/nick}nick")
                out["nick"] = nick.text if nick is not None else None
                out["delayed"] = p.xml.find("{urn:xmpp:delay}delay") is not None
                out["status"] = p["status"]
                if "status" in step and p["status"] != step["status"]:
                    raise RuntimeError("presence status %r, want %r" % (p["status"], step["status"]))
            elif op == "expect_no_presence":
                # Everything sent before the ping answer has arrived by then.
                c = clients[name]
                await c.plugin["xep_0199"].ping(jid=c.boundjid.domain, timeout=TIMEOUT)
                seen = []
                while not c.presences.empty():
                    p = c.presences.get_nowait()
                    if p["type"] == step["type"] and ("from_bare" not in step or p["from"].bare == step["from_bare"]):
                        seen.append(str(p["from"]))
                if seen:
                    raise RuntimeError("unexpected %s presence from %s" % (step["type"], seen))
            elif op == "roster":
                c = clients[name]
                iq = c.Iq(stype="get")
                iq.enable("roster")
                resp = await iq.send(timeout=TIMEOUT)
                items = {}
                for it in resp.xml.iter("{jabber:iq:roster}item"):
                    items[it.get("jid")] = {"subscription": it.get("subscription"), "ask": it.get("ask"),
                                            "approved": it.get("approved"), "name": it.get("name")}
                out["items"] = items
                out["ver"] = resp.xml.find("{jabber:iq:roster}query").get("ver")
                for jid, want in step.get("expect", {}).items():
                    got = items.get(jid)
                    if want is None:
                        if got is not None:
                            raise RuntimeError("roster has %s: %s" % (jid, got))
                        continue
                    if got is None:
                        raise RuntimeError("roster lacks %s: %s" % (jid, items))
                    for k, v in want.items():
                        if got.get(k) != v:
                            raise RuntimeError("roster item %s: %s is %r, want %r" % (jid, k, got.get(k), v))
            elif op == "expect_push":
                c = clients[name]
                while True:
                    iq = await asyncio.wait_for(c.pushes.get(), TIMEOUT)
                    it = iq.xml.find("{jabber:iq:roster}query/{jabber:iq:roster}item")
                    if it is not None and it.get("jid") == step["jid"] and it.get("subscription") == step["subscription"] \
                            and it.get("ask") == step.get("ask"):
                        break
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
