package xmlstream

import "github.com/heraldxmpp/herald/delivery/stanza"

// build materialises the parsed unit: one string for every non-interned
// string, and one slab each of elements, attributes and children.
func (p *parser) build() *stanza.Element {
	var blob string
	if len(p.blob) > 0 {
		blob = string(p.blob)
	}
	els := make([]stanza.Element, len(p.els))
	var attrs []stanza.Attr
	if len(p.attrs) > 0 {
		attrs = make([]stanza.Attr, len(p.attrs))
		for k := range p.attrs {
			a := &p.attrs[k]
			attrs[k] = stanza.Attr{
				Name:  stanza.Name{Space: p.str(a.space, blob), Local: p.str(a.local, blob)},
				Value: p.str(a.value, blob),
			}
		}
	}
	var nodes []stanza.Node
	if len(p.nodes) > 0 {
		nodes = make([]stanza.Node, len(p.nodes))
	}
	off := int32(0)
	for k := range p.els {
		x := &p.els[k]
		e := &els[k]
		e.Name = stanza.Name{Space: p.str(x.space, blob), Local: p.str(x.local, blob)}
		if x.attr1 > x.attr0 {
			e.Attr = attrs[x.attr0:x.attr1:x.attr1]
		}
		if x.nchild > 0 {
			end := off + x.nchild
			e.Children = nodes[off:end:end]
			x.fill = off
			off = end
		}
	}
	for k := range p.nodes {
		nd := &p.nodes[k]
		x := &p.els[nd.parent]
		if nd.el >= 0 {
			nodes[x.fill] = &els[nd.el]
		} else {
			nodes[x.fill] = p.textNode(nd.text, blob)
		}
		x.fill++
	}
	return &els[0]
}

func (p *parser) str(r sref, blob string) string {
	if r.off < 0 {
		return p.fixed(r)
	}
	return blob[r.off:r.end]
}

func (p *parser) textNode(r sref, blob string) stanza.Node {
	if n := r.end - r.off; n <= int32(maxIntern) {
		if k := lookup(p.blob[r.off:r.end]); k >= 0 {
			return internNode[k]
		}
	}
	return stanza.CharData(blob[r.off:r.end])
}
