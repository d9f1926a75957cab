// Log in to Herald with @xmpp/client, send a message to another account and
// one to ourselves, and wait for ours to come back.
//
// Usage: node login.mjs SERVICE DOMAIN USERNAME PASSWORD TO BODY
// SERVICE is xmpp://host:port (STARTTLS). The server's certificate must be
// trusted through NODE_EXTRA_CA_CERTS. Prints one JSON line per event; the
// exit status is 0 only when everything arrived.
import { client, xml } from "@xmpp/client";

const [service, domain, username, password, to, body] = process.argv.slice(2);
const xmpp = client({ service, domain, username, password, resource: "xmppjs" });
const print = (o) => console.log(JSON.stringify(o));
const fail = (what) => {
  print({ error: String(what) });
  process.exit(1);
};
const timer = setTimeout(() => fail("timeout"), 60000);

xmpp.on("error", (err) => fail(err.condition || err.message));
xmpp.on("online", async (address) => {
  print({ online: address.toString() });
  const echo = new Promise((resolve) => {
    xmpp.on("stanza", (st) => {
      if (st.is("message") && st.getChildText("body") === "echo " + body) {
        resolve(st.attrs.from);
      }
    });
  });
  await xmpp.send(xml("message", { to, type: "chat" }, xml("body", {}, body)));
  await xmpp.send(xml("message", { to: address.toString(), type: "chat" }, xml("body", {}, "echo " + body)));
  print({ echo: await echo });
  // The answer to a ping comes after the server handled both messages.
  await xmpp.iqCaller.request(xml("iq", { type: "get", to: domain }, xml("ping", "urn:xmpp:ping")), 20000);
  await xmpp.stop();
  clearTimeout(timer);
  print({ done: true });
});
xmpp.start().catch(fail);
