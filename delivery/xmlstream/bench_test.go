package xmlstream

import (
	"encoding/xml"
	"io"
	"strings"
	"testing"
)

// The benchmarks decode an endless client stream that repeats one stanza,
// so one op is one stanza. BenchmarkEncodingXML* run encoding/xml's
// namespace-aware Token over the same bytes, one op per stanza's tokens, to
// put the ratio in the same run: a performance claim names its baseline
// measured in the same run.

const benchHeader = `<?xml version='1.0'?><stream:stream to='example.com' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0' xml:lang='en'>`

const smallMessage = `<message to='b@x' type='chat' id='x1'><body>hi</body></message>`

// richMessage is about 1 KiB: a chat message with a body, a thread, an
// XHTML-IM body with nested spans (XEP-0071), an active chat state
// (XEP-0085), a receipt request (XEP-0184), an origin-id (XEP-0359) and a
// markable hint (XEP-0333), as a modern client sends it.
const richMessage = `<message xml:lang='en' to='juliet@capulet.example/balcony' from='romeo@montague.example/garden' type='chat' id='5b2f6c1e-9d3a-4c57-8f0e-2a1b3c4d5e6f'>` +
	`<body>But soft, what light through yonder window breaks? It is the east, and Juliet is the sun &amp; the moon is envious.</body>` +
	`<thread parent='e0ffe42b28561960c6b12b944a092794b9683a38'>0e3141cd80894871a68e6fe6b1ec56fa</thread>` +
	`<html xmlns='http://jabber.org/protocol/xhtml-im'><body xmlns='http://www.w3.org/1999/xhtml'>` +
	`<p style='font-weight:bold'>But <span style='color:#ff0000'>soft</span>, what <em>light</em> through ` +
	`<span style='font-style:italic'>yonder <span style='color:#0000ff'>window</span></span> breaks?</p>` +
	`<p>It is the <strong>east</strong>, and <a href='xmpp:juliet@capulet.example'>Juliet</a> is the sun.</p>` +
	`</body></html>` +
	`<active xmlns='http://jabber.org/protocol/chatstates'/>` +
	`<request xmlns='urn:xmpp:receipts'/>` +
	`<markable xmlns='urn:xmpp:chat-markers:0'/>` +
	`<origin-id xmlns='urn:xmpp:sid:0' id='de305d54-75b4-431b-adb2-eb6b9e546014'/>` +
	`<store xmlns='urn:xmpp:hints'/>` +
	`</message>`

// loopReader serves a header once, then unit forever.
type loopReader struct {
	head string
	unit string
	pos  int
	hdr  bool
}

func (r *loopReader) Read(p []byte) (int, error) {
	n := 0
	if !r.hdr {
		n = copy(p, r.head[r.pos:])
		r.pos += n
		if r.pos == len(r.head) {
			r.hdr, r.pos = true, 0
		}
		return n, nil
	}
	for n < len(p) {
		k := copy(p[n:], r.unit[r.pos:])
		n += k
		r.pos = (r.pos + k) % len(r.unit)
	}
	return n, nil
}

func benchDecoder(b *testing.B, unit string) {
	d := NewDecoder(&loopReader{head: benchHeader, unit: unit}, Limits{})
	if ev, err := d.Next(); err != nil || ev.Kind != StreamOpen {
		b.Fatal(ev, err)
	}
	b.SetBytes(int64(len(unit)))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		ev, err := d.Next()
		if err != nil || ev.Element == nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "stanzas/s")
}

func benchEncodingXML(b *testing.B, unit string) {
	d := xml.NewDecoder(&loopReader{head: benchHeader, unit: unit})
	for { // the XML declaration and the stream header
		t, err := d.Token()
		if err != nil {
			b.Fatal(err)
		}
		if _, ok := t.(xml.StartElement); ok {
			break
		}
	}
	b.SetBytes(int64(len(unit)))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		depth := 0
		for {
			t, err := d.Token()
			if err != nil {
				b.Fatal(err)
			}
			switch t.(type) {
			case xml.StartElement:
				depth++
			case xml.EndElement:
				depth--
			}
			if depth == 0 {
				if _, ok := t.(xml.EndElement); ok {
					break
				}
			}
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "stanzas/s")
}

func BenchmarkDecoderSmall(b *testing.B)     { benchDecoder(b, smallMessage) }
func BenchmarkEncodingXMLSmall(b *testing.B) { benchEncodingXML(b, smallMessage) }
func BenchmarkDecoderRich(b *testing.B)      { benchDecoder(b, richMessage) }
func BenchmarkEncodingXMLRich(b *testing.B)  { benchEncodingXML(b, richMessage) }

// BenchmarkDecoderRichIdle is the path of a stanza that arrives on an idle
// connection: the decoder holds no buffer, reads 16 bytes into its own
// array, then takes a pooled buffer for the rest.
func BenchmarkDecoderRichIdle(b *testing.B) {
	r := &chunkReader{}
	d := NewDecoder(r, Limits{})
	r.chunks = []string{benchHeader}
	if _, err := d.Next(); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(richMessage)))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		r.chunks = append(r.chunks[:0], richMessage)
		r.pos = 0
		ev, err := d.Next()
		if err != nil || ev.Element == nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "stanzas/s")
}

// BenchmarkDecoderRichOneByte is the worst split: one byte per Read.
func BenchmarkDecoderRichOneByte(b *testing.B) {
	d := NewDecoder(oneByte{&loopReader{head: benchHeader, unit: richMessage}}, Limits{})
	if _, err := d.Next(); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(richMessage)))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := d.Next(); err != nil {
			b.Fatal(err)
		}
	}
}

// chunkReader returns its chunks one per Read (split if p is shorter),
// then io.EOF.
type chunkReader struct {
	chunks []string
	pos    int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	for len(r.chunks) > 0 && r.pos == len(r.chunks[0]) {
		r.chunks, r.pos = r.chunks[1:], 0
	}
	if len(r.chunks) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.chunks[0][r.pos:])
	r.pos += n
	return n, nil
}

type oneByte struct{ r io.Reader }

func (o oneByte) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	return o.r.Read(p[:1])
}

func TestBenchInputs(t *testing.T) {
	if n := len(richMessage); n < 900 || n > 1300 {
		t.Errorf("rich message is %d bytes, want about 1 KiB", n)
	}
	for _, s := range []string{smallMessage, richMessage} {
		d := NewDecoder(strings.NewReader(benchHeader+s), Limits{})
		if _, err := d.Next(); err != nil {
			t.Fatal(err)
		}
		if ev, err := d.Next(); err != nil || ev.Size != len(s) {
			t.Fatal(ev.Size, err)
		}
	}
}
