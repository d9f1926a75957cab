#!/usr/bin/python3
"""Drive Herald's account services with slixmpp's own plugins: XEP-0280
Message Carbons (xep_0280) and XEP-0191 Blocking Command (xep_0191).

Usage: slixservices.py SCENARIO.json

The scenario has the shape slixclient.py reads (host, port, cafile,
clients, steps; a client may carry its own host, port and cafile). Ops: connect, presence, carbons (enable through the
plugin), send (to, body, type, private: adds <private/> and <no-copy/>),
expect (a message: body, from_bare), expect_carbon (dir sent or received,
body: the plugin's event with the forwarded original), expect_error (a
message error: condition, blocked: the urn:xmpp:blocking:errors child),
expect_none (no message, carbon or error arrived before a ping's answer),
blocklist (items: the exact sorted list), block (jids; error: the
condition expected instead of a result), unblock (jids;
none means all), expect_push (kind block or unblock, jids), presence_to
(directed presence to), expect_presence (type, from_bare),
expect_no_presence (none from from_bare before a ping's answer), ping (to).
One JSON line is printed per step; the exit status is 0 only when every
step passed.
"""
import asyncio
import json
import logging
import sys
import xml.etree.ElementTree as ET

from slixmpp.exceptions import IqError, IqTimeout

from slixclient import Client, TIMEOUT

NS_CARBONS = "urn:xmpp:carbons:2"
NS_BLOCKING = "urn:xmpp:blocking"
NS_BLOCKED = "urn:xmpp:blocking:errors"


class ServiceClient(Client):
    def __init__(self, name, spec, cafile):
        super().__init__(name, spec, cafile)
        self.register_plugin("xep_0280")
        self.register_plugin("xep_0191")
        self.carbons = asyncio.Queue()
        self.errors = asyncio.Queue()
        self.block_pushes = asyncio.Queue()
        self.add_event_handler("carbon_received", lambda m: self.carbons.put_nowait(("received", m)))
        self.add_event_handler("carbon_sent", lambda m: self.carbons.put_nowait(("sent", m)))
        self.add_event_handler("message_error", self.errors.put_nowait)
        self.add_event_handler("blocked", lambda iq: self.block_pushes.put_nowait(("block", iq)))
        self.add_event_handler("unblocked", lambda iq: self.block_pushes.put_nowait(("unblock", iq)))

    def _message(self, msg):
        if msg["type"] != "error":
            self.inbox.put_nowait(msg)


def push_jids(iq, kind):
    el = iq.xml.find("{%s}%s" % (NS_BLOCKING, kind))
    return sorted(i.get("jid") for i in el.findall("{%s}item" % NS_BLOCKING)) if el is not None else None


async def step_run(clients, sc, step, out):
    name = step["client"]
    op = step["op"]
    c = clients.get(name)
    if op == "connect":
        spec = sc["clients"][name]
        srv = lambda k: spec.get(k, sc.get(k))  # a client may name its own server
        c = ServiceClient(name, spec, srv("cafile"))
        clients[name] = c
        c.connect((srv("host"), srv("port")))
        await asyncio.wait_for(c.started.wait(), TIMEOUT)
        if c.failed:
            raise RuntimeError(c.failed)
        out["jid"] = str(c.boundjid)
    elif op == "presence":
        c.send_presence(ppriority=step.get("priority", 0))
        await c.plugin["xep_0199"].ping(jid=c.boundjid.domain, timeout=TIMEOUT)
    elif op == "carbons":
        await c.plugin["xep_0280"].enable(timeout=TIMEOUT)
    elif op == "send":
        m = c.make_message(mto=step["to"], mbody=step["body"], mtype=step.get("type", "chat"))
        if step.get("private"):
            ET.SubElement(m.xml, "{%s}private" % NS_CARBONS)
            ET.SubElement(m.xml, "{urn:xmpp:hints}no-copy")
        m.send()
        await c.plugin["xep_0199"].ping(jid=c.boundjid.domain, timeout=TIMEOUT)
    elif op == "expect":
        msg = await asyncio.wait_for(c.inbox.get(), TIMEOUT)
        out["from"], out["body"] = str(msg["from"]), msg["body"]
        if msg["body"] != step["body"]:
            raise RuntimeError("expected body %r, got %r" % (step["body"], msg["body"]))
        if "from_bare" in step and msg["from"].bare != step["from_bare"]:
            raise RuntimeError("expected from %r, got %r" % (step["from_bare"], str(msg["from"])))
    elif op == "expect_carbon":
        kind, msg = await asyncio.wait_for(c.carbons.get(), TIMEOUT)
        fwd = msg["carbon_" + kind]  # the plugin hands the forwarded original
        out["dir"], out["from"], out["to"], out["body"] = kind, str(fwd["from"]), str(fwd["to"]), fwd["body"]
        out["wrapper_from"] = str(msg["from"])
        if kind != step["dir"] or fwd["body"] != step["body"]:
            raise RuntimeError("expected a %s carbon of %r, got a %s carbon of %r" % (step["dir"], step["body"], kind, fwd["body"]))
    elif op == "expect_error":
        msg = await asyncio.wait_for(c.errors.get(), TIMEOUT)
        out["condition"] = msg["error"]["condition"]
        out["blocked"] = msg.xml.find("{jabber:client}error/{%s}blocked" % NS_BLOCKED) is not None
        if out["condition"] != step["condition"] or out["blocked"] != step.get("blocked", False):
            raise RuntimeError("error %s (blocked child %s), want %s (%s)" % (
                out["condition"], out["blocked"], step["condition"], step.get("blocked", False)))
    elif op == "expect_none":
        await c.plugin["xep_0199"].ping(jid=c.boundjid.domain, timeout=TIMEOUT)
        for q, what in ((c.inbox, "message"), (c.carbons, "carbon"), (c.errors, "error")):
            if not q.empty():
                raise RuntimeError("expected nothing, got a %s: %s" % (what, q.get_nowait()))
    elif op == "blocklist":
        iq = await c.plugin["xep_0191"].get_blocked(timeout=TIMEOUT)
        out["items"] = sorted(str(j) for j in iq["blocklist"]["items"])
        if out["items"] != sorted(step["items"]):
            raise RuntimeError("blocklist %s, want %s" % (out["items"], sorted(step["items"])))
    elif op == "block":
        try:
            await c.plugin["xep_0191"].block(step["jids"], timeout=TIMEOUT)
        except IqError as e:
            # slixmpp's condition list lacks policy-violation: read the XML.
            err = e.iq.xml.find("{jabber:client}error")
            out["condition"] = next((x.tag.split("}")[1] for x in err
                                     if x.tag.startswith("{urn:ietf:params:xml:ns:xmpp-stanzas}") and not x.tag.endswith("}text")), "")
            if out["condition"] != step.get("error"):
                raise
        else:
            if "error" in step:
                raise RuntimeError("block accepted, want %s" % step["error"])
    elif op == "unblock":
        if step.get("jids"):
            await c.plugin["xep_0191"].unblock(step["jids"], timeout=TIMEOUT)
        else:
            iq = c.make_iq_set()
            ET.SubElement(iq.xml, "{%s}unblock" % NS_BLOCKING)
            await iq.send(timeout=TIMEOUT)
    elif op == "expect_push":
        kind, iq = await asyncio.wait_for(c.block_pushes.get(), TIMEOUT)
        out["kind"], out["jids"] = kind, push_jids(iq, kind)
        if kind != step["kind"] or out["jids"] != sorted(step.get("jids", [])):
            raise RuntimeError("push %s %s, want %s %s" % (kind, out["jids"], step["kind"], step.get("jids", [])))
    elif op == "expect_presence":
        while True:
            p = await asyncio.wait_for(c.presences.get(), TIMEOUT)
            if p["type"] == step["type"] and p["from"].bare == step["from_bare"]:
                break
    elif op == "presence_to":
        c.make_presence(pto=step["to"]).send()
        await c.plugin["xep_0199"].ping(jid=c.boundjid.domain, timeout=TIMEOUT)
    elif op == "expect_no_presence":
        await c.plugin["xep_0199"].ping(jid=c.boundjid.domain, timeout=TIMEOUT)
        while not c.presences.empty():
            p = c.presences.get_nowait()
            if p["from"].bare == step["from_bare"]:
                raise RuntimeError("unexpected presence from %s" % p["from"])
    elif op == "ping":
        await c.plugin["xep_0199"].ping(jid=step.get("to", c.boundjid.domain), timeout=TIMEOUT)
    else:
        raise RuntimeError("unknown op " + op)


async def run(sc):
    clients = {}
    ok = True
    for step in sc["steps"]:
        out = {"client": step["client"], "op": step["op"], "ok": True}
        try:
            await step_run(clients, sc, step, out)
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
    sys.exit(0 if asyncio.run(run(sc)) else 1)


if __name__ == "__main__":
    main()
