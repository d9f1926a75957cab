package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/heraldxmpp/herald/ops"
	"github.com/heraldxmpp/herald/s2s/component"
)

// createComponents builds the XEP-0114 component side when at least one
// [[component]] is configured, and routes each component domain to it
// through the mux, before any listener opens.
func (d *daemon) createComponents() error {
	if len(d.cfg.Components) == 0 {
		return nil
	}
	secrets := map[string]string{}
	for _, k := range d.cfg.Components {
		secret := k.Secret
		if k.SecretFile != "" {
			b, err := os.ReadFile(k.SecretFile)
			if err != nil {
				return fmt.Errorf("reading the secret of component %s: %w", k.Domain, err)
			}
			secret = strings.TrimSpace(string(b))
		}
		if secret == "" {
			return fmt.Errorf("component %s has an empty secret", k.Domain)
		}
		secrets[k.Domain] = secret
	}
	d.components = component.New(component.Config{
		Domains:      secrets,
		Limits:       streamLimits(d.cfg),
		WriteTimeout: d.cfg.C2S.WriteTimeout.Duration,
		MaxQueue:     d.cfg.Limits.MaxQueue,
		Log:          d.log.With("component", "component"),
	}, d.router)
	for _, dom := range d.components.Domains() {
		d.router.Services.Component(dom, d.components.Endpoint(dom))
	}
	return nil
}

// Components is the admin API's view of the components (ops.ComponentBackend).
func (b *backend) Components(context.Context) ([]ops.Component, error) {
	if b.d.components == nil {
		return nil, nil
	}
	var out []ops.Component
	for _, s := range b.d.components.List() {
		out = append(out, ops.Component{Domain: s.Domain, Connected: s.Connected, Remote: s.RemoteAddr, In: s.In, Out: s.Out})
	}
	return out, nil
}
