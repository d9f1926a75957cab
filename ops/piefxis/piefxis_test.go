package piefxis

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

// prosodyDoc is shaped as prosody-migrator's xep0227 output: SCRAM
// credentials, a roster, a pending request, offline messages.
const prosodyDoc = `<?xml version='1.0' encoding='UTF-8'?>
<server-data xmlns='urn:xmpp:pie:0'>
  <host jid='capulet.lit'>
    <user name='juliet'>
      <scram-credentials xmlns='urn:xmpp:pie:0#scram' mechanism='SCRAM-SHA-1'>
        <iter-count>10000</iter-count>
        <salt>c2FsdHNhbHQ=</salt>
        <server-key>0pXWGK0GZJ6TR73AIUN3ITYtA1g=</server-key>
        <stored-key>Q6qT/SbybblGCZz8e8eSfCJOQic=</stored-key>
      </scram-credentials>
      <query xmlns='jabber:iq:roster' version='3'>
        <item jid='romeo@montague.lit' subscription='both' name='Romeo'><group>Friends</group><group>Verona</group></item>
        <item jid='nurse@capulet.lit' subscription='none' ask='subscribe'/>
        <item jid='tybalt@capulet.lit' subscription='from'/>
      </query>
      <presence xmlns='jabber:client' from='benvolio@montague.lit' type='subscribe'><status>hi &amp; bye</status></presence>
      <offline-messages>
        <message xmlns='jabber:client' from='romeo@montague.lit/orchard' to='juliet@capulet.lit' type='chat' xml:lang='en'><body>Art thou &lt;there&gt;?</body><delay xmlns='urn:xmpp:delay' stamp='2026-01-01T00:00:00Z'/></message>
      </offline-messages>
    </user>
    <user name='nurse' password='s3cret'/>
  </host>
  <host jid='montague.lit'>
    <user name='romeo' password='p'/>
  </host>
</server-data>
`

func readAll(t *testing.T, r io.Reader) []*Account {
	t.Helper()
	var out []*Account
	rd := NewReader(r)
	for {
		a, err := rd.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		out = append(out, a)
	}
}

func TestReadProsodyShape(t *testing.T) {
	as := readAll(t, strings.NewReader(prosodyDoc))
	if len(as) != 3 {
		t.Fatalf("got %d accounts, want 3", len(as))
	}
	j := as[0]
	if j.Domain != "capulet.lit" || j.Name != "juliet" || j.Password != "" {
		t.Fatalf("juliet = %+v", j)
	}
	if len(j.SCRAM) != 1 || j.SCRAM[0].Iter != 10000 || string(j.SCRAM[0].Salt) != "saltsalt" || len(j.SCRAM[0].StoredKey) != 20 {
		t.Fatalf("scram = %+v", j.SCRAM)
	}
	want := []Item{
		{JID: "romeo@montague.lit", Name: "Romeo", Subscription: "both", Groups: []string{"Friends", "Verona"}},
		{JID: "nurse@capulet.lit", Subscription: "none", Ask: true},
		{JID: "tybalt@capulet.lit", Subscription: "from"},
	}
	if !reflect.DeepEqual(j.Roster, want) {
		t.Fatalf("roster = %+v", j.Roster)
	}
	if len(j.Pending) != 1 || j.Pending[0].From != "benvolio@montague.lit" ||
		!strings.Contains(string(j.Pending[0].XML), `<status>hi &amp; bye</status>`) {
		t.Fatalf("pending = %+v", j.Pending)
	}
	if len(j.Offline) != 1 || !strings.Contains(string(j.Offline[0].XML), `<delay xmlns="urn:xmpp:delay"`) ||
		!strings.Contains(string(j.Offline[0].XML), `xml:lang="en"`) ||
		!strings.HasPrefix(string(j.Offline[0].XML), `<message xmlns="jabber:client"`) {
		t.Fatalf("offline = %s", j.Offline[0].XML)
	}
	if as[1].Password != "s3cret" || as[2].Domain != "montague.lit" {
		t.Fatalf("others = %+v %+v", as[1], as[2])
	}
}

func TestRoundTrip(t *testing.T) {
	as := readAll(t, strings.NewReader(prosodyDoc))
	var b bytes.Buffer
	w := NewWriter(&b)
	for _, a := range as {
		if err := w.Write(a); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	again := readAll(t, &b)
	if !reflect.DeepEqual(as, again) {
		t.Fatalf("round trip differs:\n%+v\n%+v", as[0], again[0])
	}
}

func TestBadInputNamesLineAndElement(t *testing.T) {
	cases := []struct{ doc, line, el string }{
		{"<server-data xmlns='urn:xmpp:pie:0'>\n<host jid='a'>\n<user name='x'>\n<query xmlns='jabber:iq:roster'>\n<item jid='b' subscription='maybe'/>", "line 5", "<item>"},
		{"<server-data xmlns='urn:xmpp:pie:0'>\n<host jid='a'>\n<user name='x'>\n<scram-credentials xmlns='urn:xmpp:pie:0#scram' mechanism='SCRAM-SHA-1'>\n<iter-count>0</iter-count>", "line 5", "<iter-count>"},
		{"<server-data xmlns='urn:xmpp:pie:0'>\n<host jid='a'>\n<user>", "line 3", "<user>"},
		{"<server-data xmlns='urn:xmpp:pie:0'>\n<host jid='a'>\n<user name='x'>\n<query xmlns='jabber:iq:roster'>", "", "<query>"},
		{"<roster/>", "line 1", "<roster>"},
		{"<server-data xmlns='urn:xmpp:pie:0'>\n<host jid='a'>\n<user name='x'></host>", "line 3", ""},
	}
	for i, c := range cases {
		rd := NewReader(strings.NewReader(c.doc))
		a, err := rd.Next()
		var pe *Error
		if a != nil || !errors.As(err, &pe) {
			t.Fatalf("case %d: got %v, %v; want *Error", i, a, err)
		}
		if !strings.Contains(err.Error(), c.line) || !strings.Contains(err.Error(), c.el) {
			t.Errorf("case %d: %q does not name %q %q", i, err, c.line, c.el)
		}
	}
}

// genDoc produces a document of n accounts without holding it.
type genDoc struct {
	n, i int
	buf  bytes.Buffer
	done bool
}

func (g *genDoc) Read(p []byte) (int, error) {
	for g.buf.Len() < len(p) && !g.done {
		switch {
		case g.i == 0 && g.buf.Len() == 0 && !g.done && g.n >= 0:
			g.buf.WriteString("<server-data xmlns='urn:xmpp:pie:0'><host jid='big.lit'>")
			g.n = -g.n - 1
		case g.i < -g.n-1:
			fmt.Fprintf(&g.buf, "<user name='u%d' password='pw%d'><query xmlns='jabber:iq:roster'><item jid='f%d@big.lit' subscription='both'/></query></user>\n", g.i, g.i, g.i)
			g.i++
		default:
			g.buf.WriteString("</host></server-data>")
			g.done = true
		}
	}
	return g.buf.Read(p)
}

func TestStreamsWithoutHoldingTheFile(t *testing.T) {
	const n = 100000
	rd := NewReader(&genDoc{n: n})
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	var peak uint64
	count := 0
	for {
		a, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		count++
		if len(a.Roster) != 1 {
			t.Fatalf("account %d roster %v", count, a.Roster)
		}
		if count%20000 == 0 {
			runtime.GC()
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > peak {
				peak = ms.HeapAlloc
			}
		}
	}
	if count != n {
		t.Fatalf("read %d accounts, want %d", count, n)
	}
	// The document is about 12 MB; the reader must stay far below it.
	if peak > base+2<<20 {
		t.Fatalf("heap grew by %d bytes over %d accounts", peak-base, n)
	}
	t.Logf("%d accounts, heap growth %d bytes", n, int64(peak)-int64(base))
}

// TestProsodyMigratorOutput reads a file prosody-migrator (Prosody 0.12,
// internal to xep0227) wrote for an account registered with prosodyctl,
// with a roster of three subscription states and a pending request.
func TestProsodyMigratorOutput(t *testing.T) {
	f, err := os.Open("testdata/prosody-migrator-juliet.xml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	as := readAll(t, f)
	if len(as) != 1 {
		t.Fatalf("got %d accounts", len(as))
	}
	a := as[0]
	if a.Domain != "capulet.lit" || a.Name != "juliet" || len(a.SCRAM) != 1 || a.SCRAM[0].Mechanism != "SCRAM-SHA-1" || a.SCRAM[0].Iter != 10000 {
		t.Fatalf("account = %+v", a)
	}
	subs := map[string]string{}
	for _, it := range a.Roster {
		subs[it.JID] = it.Subscription
		if it.Ask {
			subs[it.JID] += "+ask"
		}
	}
	want := map[string]string{"tybalt@capulet.lit": "from", "romeo@montague.lit": "both", "nurse@capulet.lit": "none+ask"}
	if !reflect.DeepEqual(subs, want) {
		t.Fatalf("roster = %v", subs)
	}
	if len(a.Pending) != 1 || a.Pending[0].From != "benvolio@montague.lit" ||
		!strings.HasPrefix(string(a.Pending[0].XML), `<presence xmlns="jabber:client"`) {
		t.Fatalf("pending = %+v %s", a.Pending, a.Pending[0].XML)
	}
}
