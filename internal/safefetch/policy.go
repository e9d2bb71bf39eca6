package safefetch

import (
	"net/netip"
)

// The IPv4 networks that are not public unicast: a fetch never reaches them
// unless Options.Allow names them. Read-only after initialisation.
var nonPublic4 = prefixes(
	"0.0.0.0/8",       // "this network"; 0.0.0.0 reaches the local host
	"10.0.0.0/8",      // private
	"100.64.0.0/10",   // carrier-grade NAT
	"127.0.0.0/8",     // loopback
	"169.254.0.0/16",  // link-local, cloud metadata (169.254.169.254)
	"172.16.0.0/12",   // private
	"192.0.0.0/24",    // IETF protocol assignments
	"192.0.2.0/24",    // documentation (TEST-NET-1)
	"192.88.99.0/24",  // deprecated 6to4 relay anycast
	"192.168.0.0/16",  // private
	"198.18.0.0/15",   // benchmarking
	"198.51.100.0/24", // documentation (TEST-NET-2)
	"203.0.113.0/24",  // documentation (TEST-NET-3)
	"224.0.0.0/4",     // multicast
	"240.0.0.0/4",     // reserved, and 255.255.255.255 broadcast
)

// IPv6 is public only inside the global unicast block 2000::/3 and outside
// the special blocks below; that one rule refuses ::, ::1, IPv4-compatible
// addresses, fc00::/7, fe80::/10, fec0::/10 and ff00::/8 at once.
var (
	global6    = netip.MustParsePrefix("2000::/3")
	nonPublic6 = prefixes(
		"2001::/32",     // Teredo: hides an IPv4 address we cannot check
		"2001:2::/48",   // benchmarking
		"2001:10::/28",  // ORCHID
		"2001:20::/28",  // ORCHIDv2
		"2001:db8::/32", // documentation
		"3fff::/20",     // documentation
		"5f00::/16",     // segment routing identifiers
	)
	// Translation prefixes: the IPv4 address they embed decides.
	nat64     = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour = netip.MustParsePrefix("2002::/16")
)

func prefixes(ss ...string) []netip.Prefix {
	ps := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		ps[i] = netip.MustParsePrefix(s)
	}
	return ps
}

func inAny(a netip.Addr, ps []netip.Prefix) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// IsPublic reports whether a is a public unicast address: one that a fetch
// may reach without an allowance. IPv4-mapped IPv6 addresses are judged as
// the IPv4 address they map, NAT64 (64:ff9b::/96) and 6to4 (2002::/16)
// addresses as the IPv4 address they embed. An address with a zone is never
// public.
func IsPublic(a netip.Addr) bool {
	if !a.IsValid() || a.Zone() != "" {
		return false
	}
	a = a.Unmap()
	if a.Is4() {
		return !inAny(a, nonPublic4)
	}
	b := a.As16()
	switch {
	case nat64.Contains(a):
		return IsPublic(netip.AddrFrom4([4]byte(b[12:16])))
	case sixToFour.Contains(a):
		return IsPublic(netip.AddrFrom4([4]byte(b[2:6])))
	}
	return global6.Contains(a) && !inAny(a, nonPublic6)
}

// normalizeAllow returns the valid prefixes of allow, masked, with
// IPv4-mapped IPv6 prefixes turned into the IPv4 prefixes they mean, since
// addresses are judged unmapped.
func normalizeAllow(allow []netip.Prefix) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(allow))
	for _, p := range allow {
		if !p.IsValid() {
			continue
		}
		p = p.Masked()
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		out = append(out, p)
	}
	return out
}

// permitted reports whether the fetcher may dial a: a public address or one
// inside an allowed network. Addresses with a zone are refused (they only
// make sense for link-local addresses).
func (f *Fetcher) permitted(a netip.Addr) bool {
	if !a.IsValid() || a.Zone() != "" {
		return false
	}
	a = a.Unmap()
	return inAny(a, f.allow) || IsPublic(a)
}
