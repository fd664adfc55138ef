package identitynow

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"path"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// HostRule is one entry of a host allowlist: a host glob or an IP literal, and the ports it admits.
//
// Written forms: "host" (port 443 only), "host:port" (that port only) and "host:*" (any port). The
// host is a glob (path.Match syntax) matched case-insensitively against host names; a glob never
// matches an IP literal, which only an entry naming that IP admits. IPv6 literals are written in
// brackets: "[fd00::1]", "[fd00::1]:8443".
type HostRule struct {
	glob string     // lower-case glob; empty for an IP rule
	ip   netip.Addr // valid for an IP rule
	port uint16     // 0 admits any port
}

// DefaultPort is the only port an allowlist entry without a port admits.
const DefaultPort = 443

// ParseHostRule parses one allowlist entry.
func ParseHostRule(entry string) (HostRule, error) {
	host, portText, err := splitEntry(strings.ToLower(strings.TrimSpace(entry)))
	if err != nil {
		return HostRule{}, err
	}
	r := HostRule{port: DefaultPort}
	switch portText {
	case "":
	case "*":
		r.port = 0
	default:
		p, err := strconv.ParseUint(portText, 10, 16)
		if err != nil || p == 0 {
			return HostRule{}, fmt.Errorf("port %q must be a number from 1 to 65535, or *", portText)
		}
		r.port = uint16(p)
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		r.ip = ip.Unmap().WithZone("")
		return r, nil
	}
	switch {
	case host == "":
		return HostRule{}, errors.New("the host is empty")
	case endsInNumber(host):
		return HostRule{}, fmt.Errorf("%q is neither a host name nor an IP address in standard form "+
			"(globs never match IP addresses: name each address exactly)", host)
	}
	if _, err := path.Match(host, ""); err != nil {
		return HostRule{}, fmt.Errorf("%q is not a valid glob: %w", host, err)
	}
	r.glob = host
	return r, nil
}

// splitEntry separates an entry's host and port text ("" when the entry has no port).
func splitEntry(s string) (host, port string, err error) {
	host, colonPort, err := splitHostColonPort(s)
	if err != nil {
		return "", "", err
	}
	if colonPort == ":" {
		return "", "", errors.New("the port after : is empty")
	}
	return host, strings.TrimPrefix(colonPort, ":"), nil
}

// splitHostColonPort splits s into its host and the rest, "" or ":port".
func splitHostColonPort(s string) (host, colonPort string, err error) {
	if end := strings.Index(s, "]"); strings.HasPrefix(s, "[") && end > 0 && isAddr(s[1:end]) {
		host, rest := s[1:end], s[end+1:]
		if rest != "" && !strings.HasPrefix(rest, ":") {
			return "", "", fmt.Errorf("unexpected %q after ]", rest)
		}
		return host, rest, nil
	}
	if strings.Count(s, ":") > 1 {
		// Unbracketed, fd00::1:443 would be read as the address fd00::1:443.
		return "", "", errors.New("IPv6 addresses are written in brackets: [address] or [address]:port")
	}
	host, _, _ = strings.Cut(s, ":")
	return host, s[len(host):], nil
}

func isAddr(s string) bool {
	_, err := netip.ParseAddr(s)
	return err == nil
}

// endsInNumber reports whether host's last label is a number (decimal or 0x hex), as in the WHATWG URL
// standard: such a host is an IPv4 address in some notation (127.1, 2130706433, 0x7f.1), never a name.
func endsInNumber(host string) bool {
	labels := strings.Split(strings.TrimSuffix(host, "."), ".")
	last := labels[len(labels)-1]
	if hex, ok := strings.CutPrefix(last, "0x"); ok {
		return strings.Trim(hex, "0123456789abcdef") == ""
	}
	return last != "" && strings.Trim(last, "0123456789") == ""
}

// MatchHost reports whether the rule names host (a lower-case host name or IP literal), whatever the port.
func (r HostRule) MatchHost(host string) bool {
	if ip, err := netip.ParseAddr(host); err == nil {
		return r.ip.IsValid() && r.ip == ip.Unmap().WithZone("")
	}
	if r.glob == "" || endsInNumber(host) {
		return false
	}
	ok, _ := path.Match(r.glob, host)
	return ok
}

// AdmitsPort reports whether the rule admits port.
func (r HostRule) AdmitsPort(port uint16) bool { return r.port == 0 || r.port == port }

// namesAddr reports whether the rule names ip literally on port.
func (r HostRule) namesAddr(ip netip.Addr, port uint16) bool {
	return r.ip.IsValid() && r.ip == ip && r.AdmitsPort(port)
}

// AddressPolicy decides which hosts, and which addresses after DNS resolution, a Client may connect
// to. It is checked on every connection the client opens, to the SIM API and to the token endpoint,
// on the address actually dialled, so a name that resolves (or re-resolves) to a refused address is
// refused even when the name is allowed.
type AddressPolicy struct {
	// Hosts are the host:port pairs the client may dial. An address of one of the refused classes is
	// admitted only if a rule names that IP literally (and admits the port).
	Hosts []HostRule
	// AllowPrivate admits private addresses: RFC 1918, 100.64.0.0/10 (carrier-grade NAT) and fc00::/7.
	// Loopback, link-local, unspecified, broadcast and multicast addresses are refused whatever its value.
	AllowPrivate bool
}

// AllowsHost reports whether some rule names host (lower-case) and admits port.
func (p *AddressPolicy) AllowsHost(host string, port uint16) bool {
	for _, r := range p.Hosts {
		if r.MatchHost(host) && r.AdmitsPort(port) {
			return true
		}
	}
	return false
}

// AddressClass names a range of addresses that AddressPolicy refuses by default.
type AddressClass string

// The refused address classes. ClassNotAllowed is a host:port outside the rules.
const (
	ClassNotAllowed  AddressClass = "not allowlisted"
	ClassLoopback    AddressClass = "loopback"
	ClassLinkLocal   AddressClass = "link-local"
	ClassUnspecified AddressClass = "unspecified"
	ClassBroadcast   AddressClass = "broadcast"
	ClassMulticast   AddressClass = "multicast"
	ClassPrivate     AddressClass = "private"
)

var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// ClassOf returns the refused class ip belongs to, or "" for a public address. IPv4-mapped IPv6
// addresses are classed as the IPv4 address they carry.
func ClassOf(ip netip.Addr) AddressClass {
	ip = ip.Unmap()
	switch {
	case ip.IsLoopback():
		return ClassLoopback
	case ip.IsUnspecified(), ip.Is4() && ip.As4()[0] == 0: // 0.0.0.0/8, "this network"; 0.0.0.0 reaches this host
		return ClassUnspecified
	case ip.IsLinkLocalUnicast():
		return ClassLinkLocal
	case ip == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return ClassBroadcast
	case ip.IsMulticast():
		return ClassMulticast
	case ip.IsPrivate(), cgnat.Contains(ip):
		return ClassPrivate
	}
	return ""
}

// CheckAddr returns an *AddressError if the policy refuses to connect to ip:port on behalf of host.
func (p *AddressPolicy) CheckAddr(host string, ip netip.Addr, port uint16) error {
	ip = ip.Unmap().WithZone("")
	class := ClassOf(ip)
	if class == "" || (class == ClassPrivate && p.AllowPrivate) {
		return nil
	}
	for _, r := range p.Hosts {
		if r.namesAddr(ip, port) {
			return nil
		}
	}
	return &AddressError{Host: host, Port: port, Addr: ip, Class: class}
}

// AddressError is a connection the AddressPolicy refused; the transport wraps it, errors.As finds it.
type AddressError struct {
	// Host is the URL's host (a name or an IP literal), Port the port dialled.
	Host string
	Port uint16
	// Addr is the resolved address refused; invalid when the host itself is not allowed.
	Addr netip.Addr
	// Class says why.
	Class AddressClass
}

func (e *AddressError) Error() string {
	target := net.JoinHostPort(e.Host, strconv.Itoa(int(e.Port)))
	switch {
	case !e.Addr.IsValid():
		return fmt.Sprintf("refused to connect to %s: not in the host allowlist", target)
	case e.Addr.String() == e.Host:
		return fmt.Sprintf("refused to connect to %s: %s address", target, e.Class)
	}
	return fmt.Sprintf("refused to connect to %s: it resolved to %s, a %s address", target, e.Addr, e.Class)
}

// dialContext returns an http.Transport DialContext that checks the host and port, then every
// address the dialer actually connects to (after resolution, before the connection is made).
func (p *AddressPolicy) dialContext() func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, portText, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		p64, err := strconv.ParseUint(portText, 10, 16)
		if err != nil {
			return nil, fmt.Errorf("invalid port in %q", addr)
		}
		port := uint16(p64)
		host = strings.ToLower(host)
		if !p.AllowsHost(host, port) {
			return nil, &AddressError{Host: host, Port: port, Class: ClassNotAllowed}
		}
		d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second,
			Control: func(_, address string, _ syscall.RawConn) error {
				ap, err := netip.ParseAddrPort(address)
				if err != nil {
					return fmt.Errorf("unexpected dial address %q", address)
				}
				return p.CheckAddr(host, ap.Addr(), ap.Port())
			}}
		return d.DialContext(ctx, network, addr)
	}
}
