package turn

import (
	"net"
	"net/netip"
)

// blockedPrefixes are non-public ranges beyond those netip classifies:
// "this network", carrier-grade NAT shared space, IETF protocol
// assignments, documentation and benchmarking ranges, reserved and broadcast.
var blockedPrefixes = [...]netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("192.0.2.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("64:ff9b:1::/48"),
	netip.MustParsePrefix("2001:db8::/32"),
}

// PublicPeer reports whether a TURN server may relay to ip without
// AllowPrivate: it refuses loopback, private (RFC 1918, ULA), link-local,
// unspecified, multicast and the reserved ranges above. IPv4-mapped IPv6
// addresses are judged as IPv4.
func PublicPeer(ip net.IP) bool {
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return false
	}
	a = a.Unmap()
	if !a.IsGlobalUnicast() || a.IsPrivate() || a.IsLoopback() || a.IsLinkLocalUnicast() {
		return false
	}
	for _, p := range blockedPrefixes {
		if p.Contains(a) {
			return false
		}
	}
	return true
}
