package ops

import (
	"context"
	"fmt"
	"io"
	"net/http"
)

// ComponentBackend is the part of a Backend that reports XEP-0114
// external components. A Backend that does not implement it serves no
// /v1/components.
type ComponentBackend interface {
	// Components lists every configured component.
	Components(ctx context.Context) ([]Component, error)
}

// Component is one configured external component.
type Component struct {
	Domain    string `json:"domain"`
	Connected bool   `json:"connected"`
	Remote    string `json:"remote,omitempty"` // the component's address while connected
	In        uint64 `json:"in"`               // stanzas received since the server started
	Out       uint64 `json:"out"`              // stanzas sent since the server started
}

// componentRoutes registers GET /v1/components when b reports components.
func componentRoutes(mux *http.ServeMux, h *handler) {
	cb, ok := h.b.(ComponentBackend)
	if !ok {
		return
	}
	mux.HandleFunc("GET /v1/components", func(w http.ResponseWriter, r *http.Request) {
		list, err := cb.Components(r.Context())
		if list == nil {
			list = []Component{}
		}
		h.reply(w, map[string][]Component{"components": list}, err)
	})
}

// Components lists the configured external components.
func (c *Client) Components(ctx context.Context) ([]Component, error) {
	var out struct {
		Components []Component `json:"components"`
	}
	err := c.do(ctx, "GET", "/v1/components", nil, &out)
	return out.Components, err
}

// writeComponentMetrics adds each component's state and counters.
func writeComponentMetrics(ctx context.Context, w io.Writer, b Backend) {
	cb, ok := b.(ComponentBackend)
	if !ok {
		return
	}
	list, err := cb.Components(ctx)
	if err != nil || len(list) == 0 {
		return
	}
	series := func(kind, name, help string, v func(Component) uint64) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, kind)
		for _, k := range list {
			fmt.Fprintf(w, "%s{domain=%s} %d\n", name, quote(k.Domain), v(k))
		}
	}
	series("gauge", "herald_component_connected", "1 while the external component (XEP-0114) is connected.",
		func(k Component) uint64 { return uint64(b2i(k.Connected)) })
	series("counter", "herald_component_stanzas_in_total", "Stanzas received from an external component.",
		func(k Component) uint64 { return k.In })
	series("counter", "herald_component_stanzas_out_total", "Stanzas sent to an external component.",
		func(k Component) uint64 { return k.Out })
}
