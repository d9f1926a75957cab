package s2s

import (
	"context"
	"errors"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/net/idna"
)

// This file finds where a remote domain's XMPP server listens: RFC 6120 3.2
// (SRV _xmpp-server._tcp, then the A/AAAA fallback on 5269) merged with
// XEP-0368 (SRV _xmpps-server._tcp, direct TLS), ordered by RFC 2782. The
// answer cache lives in resolve_cache.go.

// fallbackPort is the IANA "xmpp-server" port, used by the fallback process
// of RFC 6120 3.2.2 and for IP literal domains.
const fallbackPort = 5269

// Sentinel errors of resolution. Both are returned wrapped, with the name
// and the cause; test them with errors.Is.
var (
	// ErrNoService is permanent: the domain explicitly offers no XMPP server
	// service (an SRV Target of ".", RFC 2782, RFC 6120 3.2.1), it does not
	// exist (NXDOMAIN), it has neither SRV nor A/AAAA records, or it is not
	// a valid domain name at all.
	ErrNoService = errors.New("s2s: the domain offers no XMPP server service")

	// ErrTemporary marks a failure that may go away: timeouts, SERVFAIL,
	// REFUSED, network errors, a cancelled context. Nothing is cached for it.
	ErrTemporary = errors.New("s2s: temporary DNS failure")

	// ErrNoAddress is permanent: LookupHost found the host has no A or AAAA
	// record, or does not exist.
	ErrNoAddress = errors.New("s2s: the host has no IP address")
)

// Target is one place to connect to for a domain's server.
type Target struct {
	// Host is a hostname (an A-label name, no trailing dot) or an IP
	// address. A hostname is resolved with Resolver.LookupHost.
	Host string
	Port uint16
	// DirectTLS is set for targets from _xmpps-server records (XEP-0368):
	// TLS starts at once, STARTTLS MUST NOT follow, the SNI MUST be the
	// XMPP domain (not Host) and the ALPN protocol "xmpp-server".
	DirectTLS bool
}

// Address returns Host and Port in the form net.Dial accepts.
func (t Target) Address() string {
	return net.JoinHostPort(t.Host, strconv.Itoa(int(t.Port)))
}

// Resolver finds the targets of remote domains with its own DNS client
// (github.com/miekg/dns) and a TTL-respecting cache.
//
// The zero Resolver is ready: it reads /etc/resolv.conf on first use. Set
// the fields before the first call and do not change them afterwards; a
// Resolver must not be copied after first use. It is safe for concurrent
// use.
type Resolver struct {
	// Servers are the recursive DNS servers, "host:port" (":53" is added
	// when the port is missing), tried in order for every query until one
	// answers. Empty means the nameservers of /etc/resolv.conf, read once,
	// lazily; if that file cannot be read, 127.0.0.1:53 and [::1]:53.
	Servers []string

	// Timeout bounds one exchange with one server over one transport (a
	// UDP query, or its TCP retry). Zero means 3s.
	Timeout time.Duration

	// CacheSize bounds the number of cached answers, one per (name, type).
	// Zero means 4096; negative disables the cache.
	CacheSize int

	// Rand is the source of the RFC 2782 weighted selection. Nil means the
	// goroutine-safe global source of math/rand/v2; a source set here is
	// called under the Resolver's lock, so it need not be goroutine-safe.
	Rand rand.Source

	// Now is the clock of the cache. Nil means time.Now.
	Now func() time.Time

	initOnce sync.Once
	servers  []string
	cache    *answerCache
	randMu   sync.Mutex
}

const (
	defaultTimeout = 3 * time.Second
	// maxCNAMEs bounds a CNAME chain, within answers and across queries.
	maxCNAMEs = 8
	// ednsSize is the EDNS0 buffer size advertised (RFC 6891 6.2.5): the
	// 2020 DNS flag day value, small enough to avoid IP fragmentation.
	ednsSize = 1232
)

func (r *Resolver) init() {
	r.initOnce.Do(func() {
		servers := r.Servers
		if len(servers) == 0 {
			servers = systemServers()
		}
		r.servers = make([]string, len(servers))
		for i, s := range servers {
			if _, _, err := net.SplitHostPort(s); err != nil {
				s = net.JoinHostPort(strings.Trim(s, "[]"), "53")
			}
			r.servers[i] = s
		}
		if r.CacheSize >= 0 {
			size := r.CacheSize
			if size == 0 {
				size = defaultCacheSize
			}
			r.cache = newAnswerCache(size)
		}
	})
}

// systemServers returns the nameservers of /etc/resolv.conf. Its search list
// and ndots do not apply: every name queried here is absolute.
func systemServers() []string {
	conf, err := dns.ClientConfigFromFile("/etc/resolv.conf")
	if err != nil || len(conf.Servers) == 0 {
		return []string{"127.0.0.1:53", "[::1]:53"}
	}
	out := make([]string, len(conf.Servers))
	for i, s := range conf.Servers {
		out[i] = net.JoinHostPort(s, conf.Port)
	}
	return out
}

func (r *Resolver) timeout() time.Duration {
	if r.Timeout > 0 {
		return r.Timeout
	}
	return defaultTimeout
}

func (r *Resolver) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// Resolve returns the targets of domain's XMPP server service, in the order
// to try them.
//
// domain is an XMPP domainpart (RFC 7622 3.2): a U-label or A-label name,
// an IPv4 address, or an IPv6 address in brackets. An IP literal gives one
// target on port 5269 without any DNS query. A name is converted to its
// A-label form (IDNA2008) and its _xmpps-server._tcp and _xmpp-server._tcp
// SRV records are queried concurrently:
//
//   - The records of both are merged and ordered as one set by priority,
//     then by weighted random selection within a priority (XEP-0368 3 rule
//     1, RFC 2782); an _xmpps-server record gives DirectTLS.
//   - An _xmpps-server answer of a single "." target means direct TLS is not
//     offered: the _xmpp-server records alone are used, and when there are
//     none the result is ErrNoService, without the A/AAAA fallback, which
//     XEP-0368 5 forbids once an SRV record was published.
//   - An _xmpp-server answer of a single "." target means the service is
//     "decidedly not available" (RFC 2782, RFC 6120 3.2.1 step 3). The
//     _xmpps-server records, if any, are still used: XEP-0368 makes both
//     one set, so a domain that publishes direct TLS only and "." for
//     STARTTLS offers the service, over direct TLS only. Otherwise the
//     result is ErrNoService.
//   - With no SRV record at all (NXDOMAIN or NODATA for both names), the
//     fallback of RFC 6120 3.2.2: the domain itself on port 5269, provided
//     the domain has an A or AAAA record; otherwise ErrNoService.
//   - When one query fails temporarily and the other returns records, those
//     records are used: a broken _xmpps-server zone must not cut federation
//     that works over _xmpp-server. The failure is not cached, so the next
//     call asks again. When no records came back and a query failed, the
//     error wraps ErrTemporary, since the fallback may not apply.
//
// Certificates are verified against domain, never against Target.Host: the
// SRV records are not authenticated without DNSSEC (RFC 6120 13.7.2.1,
// RFC 6125 6.2.1).
func (r *Resolver) Resolve(ctx context.Context, domain string) ([]Target, error) {
	r.init()
	if ip, ok := ipLiteral(domain); ok {
		return []Target{{Host: ip.String(), Port: fallbackPort}}, nil
	}
	name, err := domainToASCII(domain)
	if err != nil {
		return nil, fmt.Errorf("%w: %q: %v", ErrNoService, domain, err)
	}

	// RFC 6120 3.2.1 step 1 and XEP-0368 3: one query per service.
	tlsName, plainName := "_xmpps-server._tcp."+name+".", "_xmpp-server._tcp."+name+"."
	var tlsRes, plainRes srvResult
	tlsAns, tlsHit := r.cached(tlsName, dns.TypeSRV)
	plainAns, plainHit := r.cached(plainName, dns.TypeSRV)
	switch {
	case tlsHit && plainHit:
		tlsRes, plainRes = classifySRV(tlsAns, nil), classifySRV(plainAns, nil)
	default:
		var wg sync.WaitGroup
		wg.Go(func() { tlsRes = classifySRV(r.lookup(ctx, tlsName, dns.TypeSRV)) })
		plainRes = classifySRV(r.lookup(ctx, plainName, dns.TypeSRV))
		wg.Wait()
	}

	switch {
	case len(tlsRes.recs) > 0 || len(plainRes.recs) > 0:
		// The records of a failed query are missing, not wrong: use what
		// came back (see above).
		recs := make([]srvRecord, 0, len(tlsRes.recs)+len(plainRes.recs))
		for _, s := range tlsRes.recs {
			recs = append(recs, srvRecord{s, true})
		}
		for _, s := range plainRes.recs {
			recs = append(recs, srvRecord{s, false})
		}
		return r.order(recs), nil
	case plainRes.err != nil:
		return nil, plainRes.err
	case tlsRes.err != nil:
		return nil, tlsRes.err
	case plainRes.dot:
		// RFC 6120 3.2.1 step 3: the initiating entity MUST abort SRV
		// processing; no fallback either, the domain said no.
		return nil, fmt.Errorf("%w: %s has an SRV target of \".\"", ErrNoService, plainName)
	case tlsRes.dot:
		// XEP-0368 5: the initiating party MUST NOT perform the A/AAAA
		// fallback once an SRV record says SRV is in use.
		return nil, fmt.Errorf("%w: %s has an SRV target of \".\" and %s has no records",
			ErrNoService, tlsName, plainName)
	}

	// RFC 6120 3.2.2: no SRV records at all, fall back to the domain's own
	// A/AAAA records on the "xmpp-server" port.
	if _, err := r.LookupHost(ctx, name); err != nil {
		if errors.Is(err, ErrNoAddress) {
			return nil, fmt.Errorf("%w: %s has no SRV records and no address: %w", ErrNoService, name, err)
		}
		return nil, err
	}
	return []Target{{Host: name, Port: fallbackPort}}, nil
}

// LookupHost returns the IP addresses of host (A and AAAA) through the same
// DNS servers, following CNAMEs, cached. The IPv6 addresses come first, as
// the default policy of RFC 6724 2.1 prefers them; racing the families
// (RFC 8305) is the dialer's business. An IP literal is returned as is.
//
// When host has no address the error wraps ErrNoAddress; when a query
// failed and the other gave nothing, ErrTemporary. One family failing while
// the other answers still returns the addresses found.
func (r *Resolver) LookupHost(ctx context.Context, host string) ([]netip.Addr, error) {
	r.init()
	if ip, ok := ipLiteral(host); ok {
		return []netip.Addr{ip}, nil
	}
	name, err := hostToASCII(host)
	if err != nil {
		return nil, fmt.Errorf("%w: %q: %v", ErrNoAddress, host, err)
	}
	fqdn := name + "."

	var v4, v6 dnsAnswer
	var err4, err6 error
	a4, hit4 := r.cached(fqdn, dns.TypeA)
	a6, hit6 := r.cached(fqdn, dns.TypeAAAA)
	if hit4 && hit6 {
		v4, v6 = a4, a6
	} else {
		var wg sync.WaitGroup
		wg.Go(func() { v4, err4 = r.lookup(ctx, fqdn, dns.TypeA) })
		v6, err6 = r.lookup(ctx, fqdn, dns.TypeAAAA)
		wg.Wait()
	}

	addrs := make([]netip.Addr, 0, len(v4.rrs)+len(v6.rrs))
	for _, rr := range v6.rrs {
		if rr, ok := rr.(*dns.AAAA); ok {
			addrs = appendAddr(addrs, rr.AAAA)
		}
	}
	for _, rr := range v4.rrs {
		if rr, ok := rr.(*dns.A); ok {
			addrs = appendAddr(addrs, rr.A)
		}
	}
	switch {
	case len(addrs) > 0:
		return addrs, nil
	case err6 != nil:
		return nil, err6
	case err4 != nil:
		return nil, err4
	case v4.nxdomain || v6.nxdomain:
		return nil, fmt.Errorf("%w: %s does not exist (NXDOMAIN)", ErrNoAddress, name)
	}
	return nil, fmt.Errorf("%w: %s has no A or AAAA record", ErrNoAddress, name)
}

// appendAddr appends a dialable address: an unspecified address (0.0.0.0,
// ::) would reach the local host, and is dropped.
func appendAddr(addrs []netip.Addr, ip net.IP) []netip.Addr {
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return addrs
	}
	a = a.Unmap()
	if a.IsUnspecified() {
		return addrs
	}
	return append(addrs, a)
}

// ipLiteral recognises the IP forms of an XMPP domainpart (RFC 7622 3.2):
// an IPv4 address, or an IPv6 address, bracketed or not. Zones are refused.
func ipLiteral(s string) (netip.Addr, bool) {
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		s = s[1 : len(s)-1]
	}
	ip, err := netip.ParseAddr(s)
	if err != nil || ip.Zone() != "" {
		return netip.Addr{}, false
	}
	return ip.Unmap(), true
}

// idnaProfile is the IDNA2008 lookup profile (UTS #46 mappings, STD3 rules,
// the Bidi rule, RFC 1034 lengths), as delivery/jid uses for domainparts.
var idnaProfile = idna.New(
	idna.MapForLookup(),
	idna.BidiRule(),
	idna.Transitional(false),
	idna.VerifyDNSLength(true),
)

// domainToASCII returns the A-label form of an XMPP domain, without the
// trailing dot (RFC 7622 3.2), ready for DNS (RFC 6120 3.2.1 queries the
// "origin domain" of RFC 6125, an A-label name).
func domainToASCII(domain string) (string, error) {
	domain = strings.TrimSuffix(domain, ".")
	if isLowerLDH(domain) {
		return domain, nil
	}
	return idnaProfile.ToASCII(domain)
}

// hostToASCII is domainToASCII for a host name from DNS (an SRV target), where
// an underscore or other non-LDH octet is tolerated: the name is only looked
// up, never compared with a certificate.
func hostToASCII(host string) (string, error) {
	host = strings.TrimSuffix(host, ".")
	if isLowerLDH(host) {
		return host, nil
	}
	if isASCIIName(host) {
		host = strings.ToLower(host)
		if _, ok := dns.IsDomainName(host); !ok || host == "" {
			return "", errors.New("not a domain name")
		}
		return host, nil
	}
	return idnaProfile.ToASCII(host)
}

// isLowerLDH reports whether s is a plausible A-label name already: lower
// case letters, digits, hyphens and dots, labels of 1 to 63 octets, 253 in
// all, and no "xn--" label that would need its Punycode checked.
func isLowerLDH(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	label := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '.':
			if label == 0 {
				return false
			}
			label = 0
			continue
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		case c == '-':
			if label == 0 || i+1 == len(s) || s[i+1] == '.' {
				return false
			}
			if label == 3 && s[i-1] == '-' {
				return false // "xn--" or another reserved "??--" label
			}
		default:
			return false
		}
		label++
		if label > 63 {
			return false
		}
	}
	return label > 0
}

func isASCIIName(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// srvResult is one SRV query classified: usable records, the explicit "no
// service" of a lone "." target, nothing (NXDOMAIN or NODATA), or a
// temporary failure.
type srvResult struct {
	recs []*dns.SRV
	dot  bool // a "." target was seen; it counts only when recs is empty
	err  error
}

func classifySRV(a dnsAnswer, err error) srvResult {
	if err != nil {
		return srvResult{err: err}
	}
	res := srvResult{recs: make([]*dns.SRV, 0, len(a.rrs))}
	for _, rr := range a.rrs {
		s, ok := rr.(*dns.SRV)
		if !ok {
			continue
		}
		// RFC 2782: a Target of "." means the service is decidedly not
		// available. Only a lone "." carries that meaning (RFC 6120 3.2.1
		// step 3); one among real targets is dropped as meaningless, as is
		// port 0, where nothing can be reached.
		if s.Target == "." || s.Port == 0 {
			res.dot = true
			continue
		}
		res.recs = append(res.recs, s)
	}
	return res
}

type srvRecord struct {
	*dns.SRV
	tls bool
}

// order turns SRV records into targets in the order of RFC 2782: by
// priority, lowest first, then by weighted random selection within each
// priority.
func (r *Resolver) order(recs []srvRecord) []Target {
	slices.SortStableFunc(recs, func(a, b srvRecord) int {
		return int(a.Priority) - int(b.Priority)
	})
	pick := rand.Uint64
	if r.Rand != nil {
		r.randMu.Lock()
		defer r.randMu.Unlock()
		pick = r.Rand.Uint64
	}
	for i := 0; i < len(recs); {
		j := i + 1
		for j < len(recs) && recs[j].Priority == recs[i].Priority {
			j++
		}
		weightedShuffle(recs[i:j], pick)
		i = j
	}
	targets := make([]Target, len(recs))
	for i, s := range recs {
		targets[i] = Target{
			Host:      strings.ToLower(strings.TrimSuffix(s.Target, ".")),
			Port:      s.Port,
			DirectTLS: s.tls,
		}
	}
	return targets
}

// weightedShuffle orders one priority's records by the selection of RFC
// 2782 ("Usage rules"), literally: the weight 0 records are placed first,
// a randBelow number is drawn in [0, sum of weights] inclusive, the first
// record whose running sum reaches it is taken, and the rest is ordered
// again. Weight 0 records thus keep a small chance, 1/(sum+1), of coming
// first among positive weights, as RFC 2782 asks. The weight 0 records
// are shuffled among themselves, so that a set of all-zero weights
// spreads the load evenly.
func weightedShuffle(g []srvRecord, pick func() uint64) {
	if len(g) < 2 {
		return
	}
	slices.SortStableFunc(g, func(a, b srvRecord) int {
		return min(int(a.Weight), 1) - min(int(b.Weight), 1)
	})
	zeros := 0
	var sum uint64
	for _, s := range g {
		if s.Weight == 0 {
			zeros++
		}
		sum += uint64(s.Weight)
	}
	for i := zeros - 1; i > 0; i-- { // Fisher-Yates
		j := randBelow(pick, uint64(i+1))
		g[i], g[j] = g[j], g[i]
	}
	for len(g) > 1 {
		n := randBelow(pick, sum+1)
		var running uint64
		k := len(g) - 1
		for i, s := range g {
			running += uint64(s.Weight)
			if running >= n {
				k = i
				break
			}
		}
		// Take g[k] out, keeping the others in their order, weight 0 first.
		sel := g[k]
		copy(g[1:k+1], g[:k])
		g[0] = sel
		sum -= uint64(sel.Weight)
		g = g[1:]
	}
}

// randBelow returns a randBelow number in [0, n), n > 0, from a source of
// randBelow 64-bit values (Lemire's multiply-shift with rejection). A value
// v maps to about v/2^64*n, which lets tests script the draws.
func randBelow(pick func() uint64, n uint64) uint64 {
	hi, lo := bits.Mul64(pick(), n)
	if lo < n {
		thresh := -n % n
		for lo < thresh {
			hi, lo = bits.Mul64(pick(), n)
		}
	}
	return hi
}

// dnsAnswer is the outcome of one (name, type) question once CNAMEs are
// followed: the records of the asked type at the end of the chain, or
// none, with nxdomain telling NXDOMAIN from NODATA (RFC 2308 1). rrs is
// shared with the cache and never modified.
type dnsAnswer struct {
	rrs      []dns.RR
	nxdomain bool
}

// cached returns a live cached answer for (fqdn, qtype).
func (r *Resolver) cached(fqdn string, qtype uint16) (dnsAnswer, bool) {
	if r.cache == nil {
		return dnsAnswer{}, false
	}
	return r.cache.get(cacheKey{fqdn, qtype}, r.now())
}

// lookup answers (fqdn, qtype) from the cache or from the servers, and
// caches what the servers said for as long as its TTLs allow.
func (r *Resolver) lookup(ctx context.Context, fqdn string, qtype uint16) (dnsAnswer, error) {
	if a, ok := r.cached(fqdn, qtype); ok {
		return a, nil
	}
	a, ttl, err := r.follow(ctx, fqdn, qtype)
	if err != nil {
		return dnsAnswer{}, err
	}
	if r.cache != nil && ttl > 0 {
		r.cache.put(cacheKey{fqdn, qtype}, a, r.now().Add(ttl))
	}
	return a, nil
}

// follow queries (fqdn, qtype) and follows the CNAME chain, at most
// maxCNAMEs links, both inside an answer (a recursive server returns the
// chain with the records, RFC 1034 4.3.2) and across queries when an answer
// stops at a CNAME. The TTL is the least of all the records used; for a
// negative answer, that of RFC 2308 5.
func (r *Resolver) follow(ctx context.Context, fqdn string, qtype uint16) (dnsAnswer, time.Duration, error) {
	ttl := uint32(maxPositiveTTL / time.Second)
	qname, hops := fqdn, 0
	for {
		msg, err := r.exchange(ctx, qname, qtype)
		if err != nil {
			return dnsAnswer{}, 0, err
		}
		owner := qname
		for {
			c := findCNAME(msg.Answer, owner)
			if c == nil {
				break
			}
			if hops++; hops > maxCNAMEs {
				return dnsAnswer{}, 0, fmt.Errorf("%w: %s %s: CNAME chain longer than %d",
					ErrTemporary, fqdn, dns.TypeToString[qtype], maxCNAMEs)
			}
			ttl = min(ttl, rrTTL(c))
			owner = strings.ToLower(c.Target)
		}
		var rrs []dns.RR
		for _, rr := range msg.Answer {
			h := rr.Header()
			if h.Rrtype == qtype && h.Class == dns.ClassINET && strings.EqualFold(h.Name, owner) {
				rrs = append(rrs, rr)
				ttl = min(ttl, rrTTL(rr))
			}
		}
		switch {
		case len(rrs) > 0:
			return dnsAnswer{rrs: rrs}, time.Duration(ttl) * time.Second, nil
		case msg.Rcode == dns.RcodeNameError:
			// NXDOMAIN names the end of the chain (RFC 2308 2.1).
			return dnsAnswer{nxdomain: true}, negativeTTL(msg, ttl), nil
		case owner != qname:
			qname = owner // the chain stops at a CNAME: ask for its target
			continue
		}
		return dnsAnswer{}, negativeTTL(msg, ttl), nil
	}
}

func findCNAME(rrs []dns.RR, owner string) *dns.CNAME {
	for _, rr := range rrs {
		if c, ok := rr.(*dns.CNAME); ok && strings.EqualFold(c.Hdr.Name, owner) {
			return c
		}
	}
	return nil
}

// rrTTL is a record's TTL in seconds; RFC 2181 8: a value with the most
// significant bit set is treated as zero.
func rrTTL(rr dns.RR) uint32 {
	t := rr.Header().Ttl
	if t > 1<<31-1 {
		return 0
	}
	return t
}

// negativeTTL is how long a negative answer may be cached: RFC 2308 5, the
// lesser of the SOA's TTL and its MINIMUM field, here also at most
// maxNegativeTTL and at most chain (the TTL of the CNAMEs that led there).
// Without a SOA in the authority section, not at all (RFC 2308 5: SHOULD
// NOT be cached).
func negativeTTL(msg *dns.Msg, chain uint32) time.Duration {
	for _, rr := range msg.Ns {
		if soa, ok := rr.(*dns.SOA); ok {
			t := min(rrTTL(soa), soa.Minttl, chain, uint32(maxNegativeTTL/time.Second))
			return time.Duration(t) * time.Second
		}
	}
	return 0
}

// exchange asks the servers, in order, until one answers the question with
// NOERROR or NXDOMAIN. Other responses (SERVFAIL, REFUSED, ...) and
// failures move on to the next server; when none is left the error wraps
// ErrTemporary and the last cause.
func (r *Resolver) exchange(ctx context.Context, qname string, qtype uint16) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(qname, qtype) // RD set: the servers are recursive
	m.SetEdns0(ednsSize, false)
	err := errors.New("no DNS server configured")
	server := ""
	for _, server = range r.servers {
		if ctx.Err() != nil {
			err = ctx.Err()
			break
		}
		var resp *dns.Msg
		resp, err = r.exchangeServer(ctx, m, server)
		if err != nil {
			continue
		}
		if resp.Rcode == dns.RcodeSuccess || resp.Rcode == dns.RcodeNameError {
			return resp, nil
		}
		err = fmt.Errorf("rcode %s", dns.RcodeToString[resp.Rcode])
	}
	return nil, fmt.Errorf("%w: %s %s via %s: %w", ErrTemporary, qname, dns.TypeToString[qtype], server, err)
}

// exchangeServer asks one server over UDP and, if the response is truncated,
// again over TCP (RFC 7766 5, RFC 2181 9).
func (r *Resolver) exchangeServer(ctx context.Context, m *dns.Msg, server string) (*dns.Msg, error) {
	resp, err := r.exchangeNet(ctx, "udp", m, server)
	if resp != nil && resp.Truncated {
		resp, err = r.exchangeNet(ctx, "tcp", m, server)
	}
	if err != nil {
		return nil, err
	}
	q := resp.Question
	if len(q) != 1 || q[0].Qtype != m.Question[0].Qtype || !strings.EqualFold(q[0].Name, m.Question[0].Name) {
		return nil, errors.New("response to another question")
	}
	return resp, nil
}

// exchangeNet makes one exchange, bounded by Timeout and by ctx, whose
// cancellation (not only its deadline, which dns.Client honours) closes the
// connection at once.
func (r *Resolver) exchangeNet(ctx context.Context, network string, m *dns.Msg, server string) (*dns.Msg, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout())
	defer cancel()
	c := dns.Client{Net: network, Timeout: r.timeout()}
	conn, err := c.DialContext(ctx, server)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	resp, _, err := c.ExchangeWithConnContext(ctx, m, conn)
	if ctx.Err() != nil && err != nil {
		err = fmt.Errorf("%w (%v)", ctx.Err(), err)
	}
	return resp, err
}
