#!/usr/bin/python3
"""A real XEP-0114 component (slixmpp's ComponentXMPP) and a slixmpp client
user against Herald.

Usage: slixcomponent.py HOST C2S_PORT COMPONENT_PORT CAFILE USER PASSWORD DOMAIN SECRET

The component echoes every message back to its sender; the user writes to
echo@DOMAIN, waits for the echo, writes to the component first (the
component starts a conversation), and asks the component disco#info (an
IQ the component answers). Every wait is for a stanza, with a timeout.
Exit status 0 only when all of it happened.
"""
import asyncio
import ssl
import sys

import slixmpp

TIMEOUT = 20


async def main(host, c2s_port, comp_port, cafile, user, password, domain, secret):
    comp = slixmpp.ComponentXMPP(domain, secret, host, comp_port)
    comp.register_plugin("xep_0030")
    comp_in = asyncio.Queue()
    comp_up = asyncio.Event()
    comp.add_event_handler("session_start", lambda _: comp_up.set())

    def echo(msg):
        comp_in.put_nowait(msg)
        msg.reply("echo: " + msg["body"]).send()

    comp.add_event_handler("message", echo)
    comp.connect()
    await asyncio.wait_for(comp_up.wait(), TIMEOUT)
    print("component connected", flush=True)

    cli = slixmpp.ClientXMPP(user, password)
    cli.register_plugin("xep_0030")
    cli.ssl_context = ssl.create_default_context(cafile=cafile)
    cli_in = asyncio.Queue()
    cli_up = asyncio.Event()
    cli.add_event_handler("session_start", lambda _: (cli.send_presence(), cli_up.set()))
    cli.add_event_handler("message", lambda m: cli_in.put_nowait(m))
    cli.connect((host, c2s_port))
    await asyncio.wait_for(cli_up.wait(), TIMEOUT)
    print("client connected", flush=True)

    cli.send_message(mto="echo@" + domain, mbody="hello component")
    got = await asyncio.wait_for(comp_in.get(), TIMEOUT)
    assert str(got["from"]).startswith(user), got
    assert got["body"] == "hello component", got
    back = await asyncio.wait_for(cli_in.get(), TIMEOUT)
    assert back["body"] == "echo: hello component", back
    assert str(back["from"]) == "echo@" + domain, back
    print("client -> component -> client", flush=True)

    comp.send_message(mto=str(cli.boundjid), mfrom="bot@" + domain, mbody="from the component")
    first = await asyncio.wait_for(cli_in.get(), TIMEOUT)
    assert first["body"] == "from the component" and str(first["from"]) == "bot@" + domain, first
    print("component -> client", flush=True)

    info = await cli["xep_0030"].get_info(jid=domain, timeout=TIMEOUT)
    assert info["type"] == "result" and str(info["from"]) == domain, info
    print("component answered an IQ", flush=True)

    cli.disconnect()
    comp.disconnect()


if __name__ == "__main__":
    a = sys.argv[1:]
    asyncio.run(main(a[0], int(a[1]), int(a[2]), a[3], a[4], a[5], a[6], a[7]))
