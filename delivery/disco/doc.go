// Package disco is the server's own answers about itself: XEP-0030
// service discovery (disco#info and disco#items, for the server's domains
// and on behalf of accounts), XEP-0199 ping and XEP-0092 software version.
// Each is a delivery.Service; cmd/heraldd adds them to the router's mux
// like any other service.
//
// Disco owns no list of features: it answers with what every service
// registered on the same mux declared (delivery.Mux Feature, Identity,
// AccountFeature and Component), read when the query arrives. A new
// service appears in disco#info by registering, and nothing here changes.
//
// Invariants:
//   - Every answer is to a get; a set is bad-request (XEP-0030 3.1,
//     XEP-0199 4, XEP-0092 2).
//   - A query with a node is item-not-found: Herald publishes no nodes.
//
// Usage:
//
//	mux := delivery.NewMux().Add(
//		&disco.Disco{Name: "Herald"},
//		disco.Ping{},
//		disco.Version{Name: "Herald", Version: version},
//	)
//	router := &delivery.Router{Services: mux /* , ... */}
package disco
