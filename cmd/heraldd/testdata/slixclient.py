#!/usr/bin/python3
"""Drive Herald with slixmpp, a real XMPP client library, from a scenario.

Usage: slixclient.py SCENARIO.json

The scenario is {"host", "port", "tls_port", "cafile", "clients": {name:
{jid, password, mech, tls12, direct_tls}}, "steps": [...]}. A client may
carry its own "host", "port", "tls_port" and "cafile", which override the
scenario's (clients of different servers, as in the federation tests). Each step is
{"client": name, "op": ...}; ops are connect, presence, send, expect,
expect_error, expect_none, ping, disconnect, and the account storage ops
private_set, private_get, vcard_set, vcard_get, set_avatar, expect_avatar
(an iq op with "error" expects that error condition instead of a result). Every step waits for the server's answer (session start,
a ping round trip, an incoming stanza) rather than sleeping, so ordering,
not timing, makes the run reliable. One JSON line is printed per step; the
exit status is 0 only when every step passed.
"""
import asyncio
import hashlib
import json
import logging
import ssl
import sys
import xml.etree.ElementTree as ET

import slixmpp
from slixmpp.exceptions import IqError, IqTimeout
from slixmpp.xmlstream import ElementBase

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
        self.register_plugin("xep_0049")
        self.register_plugin("xep_0054")
        if spec.get("avatar"):
            # XEP-0153 adds the avatar hash to every available presence.
            self.register_plugin("xep_0153")
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


async def iq_step(step, out, coro):
    """Await an IQ; with "error" in step, expect that error condition."""
    try:
        resp = await coro
    except IqError as e:
        out["condition"] = e.iq["error"]["condition"]
        if step.get("error") != out["condition"]:
            raise RuntimeError("iq error %s" % out["condition"])
        return None
    if "error" in step:
        raise RuntimeError("expected %s, got a result" % step["error"])
    return resp


def photo(n):
    """n bytes standing for an image, the same for every run."""
    return bytes(i % 251 for i in range(n))


def private_element(c, ns, name):
    """The slixmpp stanza class for a private element, registered once."""
    attrib = "herald_%s_%s" % (abs(hash(ns)), name)
    cls = type(attrib, (ElementBase,), {"name": name, "namespace": ns, "plugin_attrib": attrib})
    c.plugin["xep_0049"].register(cls)
    return attrib


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
            elif op == "private_set":
                c = clients[name]
                await iq_step(step, out, c.plugin["xep_0049"].store(ET.fromstring(step["xml"]), timeout=TIMEOUT))
            elif op == "private_get":
                c = clients[name]
                attrib = private_element(c, step["ns"], step["name"])
                resp = await iq_step(step, out, c.plugin["xep_0049"].retrieve(attrib, timeout=TIMEOUT))
                if resp is not None:
                    el = resp.xml.find("{jabber:iq:private}query/{%s}%s" % (step["ns"], step["name"]))
                    if el is None:
                        raise RuntimeError("no element in %s" % resp)
                    out["text"] = "".join(el.itertext())
            elif op == "vcard_set":
                c = clients[name]
                v = c.plugin["xep_0054"].make_vcard()
                v["FN"] = step["fn"]
                if step.get("photo"):
                    v["PHOTO"]["TYPE"] = "image/png"
                    v["PHOTO"]["BINVAL"] = photo(step["photo"])
                await iq_step(step, out, c.plugin["xep_0054"].publish_vcard(v, timeout=TIMEOUT))
            elif op == "vcard_get":
                c = clients[name]
                resp = await iq_step(step, out, c.plugin["xep_0054"].get_vcard(
                    slixmpp.JID(step["jid"]), local=False, timeout=TIMEOUT))
                if resp is not None:
                    out["fn"] = resp["vcard_temp"]["FN"]
                    data = resp["vcard_temp"]["PHOTO"]["BINVAL"]
                    out["photo_sha1"] = hashlib.sha1(data).hexdigest() if data else ""
            elif op == "set_avatar":
                # XEP-0153: read the vCard, put the image in it, publish it,
                # then send presence carrying the image's hash.
                c = clients[name]
                await c.plugin["xep_0153"].set_avatar(avatar=photo(step["photo"]), mtype="image/png", timeout=TIMEOUT)
                out["sha1"] = hashlib.sha1(photo(step["photo"])).hexdigest()
            elif op == "expect_avatar":
                c = clients[name]
                seen = []
                while True:
                    try:
                        p = await asyncio.wait_for(c.presences.get(), TIMEOUT)
                    except asyncio.TimeoutError:
                        raise RuntimeError("no avatar hash in %s" % seen)
                    seen.append(str(p))
                    x = p.xml.find("{vcard-temp:x:update}x/{vcard-temp:x:update}photo")
                    if p["from"].bare == step["from_bare"] and x is not None and x.text:
                        break
                out["photo"] = x.text
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
