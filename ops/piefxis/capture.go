package piefxis

import (
	"bytes"
	"encoding/xml"
	"io"
)

const nsXML = "http://www.w3.org/XML/1998/namespace"

// capture serializes the element se and everything inside it, declaring
// each namespace where it changes, so the stanza stands on its own.
func (r *Reader) capture(se xml.StartElement) ([]byte, error) {
	var b bytes.Buffer
	spaces := []string{""}
	open := func(t xml.StartElement) {
		b.WriteByte('<')
		b.WriteString(t.Name.Local)
		if t.Name.Space != spaces[len(spaces)-1] {
			b.WriteString(` xmlns="`)
			xml.EscapeText(&b, []byte(t.Name.Space))
			b.WriteByte('"')
		}
		for _, a := range t.Attr {
			switch {
			case a.Name.Space == "xmlns" || (a.Name.Space == "" && a.Name.Local == "xmlns"):
				continue
			case a.Name.Space == nsXML:
				b.WriteString(" xml:" + a.Name.Local)
			case a.Name.Space == "":
				b.WriteString(" " + a.Name.Local)
			default:
				continue // a prefixed attribute of another namespace
			}
			b.WriteString(`="`)
			xml.EscapeText(&b, []byte(a.Value))
			b.WriteByte('"')
		}
		b.WriteByte('>')
		spaces = append(spaces, t.Name.Space)
	}
	open(se)
	for len(spaces) > 1 {
		t, err := r.token()
		if err == io.EOF {
			return nil, r.errf(se.Name.Local, "document ends inside it")
		}
		if err != nil {
			return nil, err
		}
		switch t := t.(type) {
		case xml.StartElement:
			open(t)
		case xml.EndElement:
			spaces = spaces[:len(spaces)-1]
			b.WriteString("</" + t.Name.Local + ">")
		case xml.CharData:
			xml.EscapeText(&b, t)
		}
	}
	return b.Bytes(), nil
}

func (r *Reader) roster(a *Account) error {
	for {
		t, err := r.token()
		if err != nil {
			return eofIn(r, "query", err)
		}
		switch t := t.(type) {
		case xml.EndElement:
			return nil
		case xml.StartElement:
			if t.Name.Local != "item" {
				if err := r.skip(); err != nil {
					return err
				}
				continue
			}
			it := Item{JID: attr(t, "jid"), Name: attr(t, "name"), Subscription: attr(t, "subscription"), Ask: attr(t, "ask") == "subscribe"}
			if it.JID == "" {
				return r.errf("item", "missing jid attribute")
			}
			switch it.Subscription {
			case "":
				it.Subscription = "none"
			case "none", "to", "from", "both":
			default:
				// RFC 6121 2.1.2.5: only these four are stored states.
				return r.errf("item", "subscription %q is not none, to, from or both", it.Subscription)
			}
			if err := r.groups(&it); err != nil {
				return err
			}
			a.Roster = append(a.Roster, it)
		}
	}
}

func (r *Reader) groups(it *Item) error {
	for {
		t, err := r.token()
		if err != nil {
			return eofIn(r, "item", err)
		}
		switch t := t.(type) {
		case xml.EndElement:
			return nil
		case xml.StartElement:
			if t.Name.Local != "group" {
				if err := r.skip(); err != nil {
					return err
				}
				continue
			}
			g, err := r.text("group")
			if err != nil {
				return err
			}
			it.Groups = append(it.Groups, g)
		}
	}
}

func (r *Reader) offline(a *Account) error {
	for {
		t, err := r.token()
		if err != nil {
			return eofIn(r, "offline-messages", err)
		}
		switch t := t.(type) {
		case xml.EndElement:
			return nil
		case xml.StartElement:
			raw, err := r.capture(t)
			if err != nil {
				return err
			}
			// XEP-0227 section 3.5: messages in jabber:client.
			if t.Name.Local == "message" && t.Name.Space == NSClient {
				a.Offline = append(a.Offline, Stanza{From: attr(t, "from"), XML: raw})
			}
		}
	}
}

func eofIn(r *Reader, el string, err error) error {
	if err == io.EOF {
		return r.errf(el, "document ends inside it")
	}
	return err
}
