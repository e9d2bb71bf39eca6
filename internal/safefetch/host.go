package safefetch

import (
	"net/netip"
	"strconv"
	"strings"
)

// loopbackAddrs is what every localhost name means (RFC 6761 lets
// applications answer these names themselves, so no resolver can say
// otherwise). IPv4 first, as the more widely available.
var loopbackAddrs = []netip.Addr{netip.AddrFrom4([4]byte{127, 0, 0, 1}), netip.IPv6Loopback()}

// parseHost reads a URL host (without brackets or port) the way the
// operating system's resolver would read it: an IPv6 literal, an IPv4
// address in any of the forms inet_aton accepts (127.1, 2130706433,
// 0x7f000001, 017700000001, 0x7f.1, ...), or else a DNS name. It returns
// the address of a literal, or the name lower-cased without a trailing
// dot. A host whose last label is numeric but that is not a valid IPv4
// address is refused rather than handed to a resolver that might read it
// some other way.
func parseHost(host string) (netip.Addr, string, error) {
	if host == "" {
		return netip.Addr{}, "", newError(KindInvalidURL, nil, "the URL has no host")
	}
	if strings.Contains(host, ":") {
		a, err := netip.ParseAddr(host)
		if err != nil {
			return netip.Addr{}, "", newError(KindInvalidURL, err, "the URL's host is not a valid IPv6 address")
		}
		return a, "", nil
	}
	h := strings.TrimSuffix(strings.ToLower(host), ".")
	if a, numeric, ok := parseIPv4(h); numeric {
		if !ok {
			return netip.Addr{}, "", newError(KindInvalidURL, nil, "the URL's host is not a valid IPv4 address")
		}
		return a, "", nil
	}
	if !validName(h) {
		return netip.Addr{}, "", newError(KindInvalidURL, nil, "the URL's host is not a valid host name")
	}
	return netip.Addr{}, h, nil
}

// isLocalhost reports whether name (lower case, no trailing dot) is one of
// the names reserved for loopback.
func isLocalhost(name string) bool {
	return name == "localhost" || strings.HasSuffix(name, ".localhost")
}

// validName reports whether s is a syntactically valid DNS name in ASCII:
// labels of 1 to 63 letters, digits, hyphens or underscores, 253 bytes in
// all. Anything else never reaches a resolver, some of which parse
// surprising things (inet_aton stops at the first space).
func validName(s string) bool {
	if len(s) == 0 || len(s) > 253 {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if len(label) == 0 || len(label) > 63 {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// parseIPv4 parses s as inet_aton does: one to four dot-separated numbers,
// each decimal, octal (a leading 0) or hexadecimal (a leading 0x); the last
// number fills all the bytes the earlier ones leave. numeric reports
// whether s claims to be an address at all (its last label is a number, as
// the WHATWG URL standard decides it); ok whether it is a valid one.
func parseIPv4(s string) (a netip.Addr, numeric, ok bool) {
	labels := strings.Split(s, ".")
	if !looksNumeric(labels[len(labels)-1]) {
		return netip.Addr{}, false, false
	}
	if len(labels) > 4 {
		return netip.Addr{}, true, false
	}
	var v uint64
	for i, label := range labels {
		n, err := parseIPv4Number(label)
		if err != nil {
			return netip.Addr{}, true, false
		}
		if i < len(labels)-1 {
			if n > 255 {
				return netip.Addr{}, true, false
			}
			v = v<<8 | n
			continue
		}
		rest := uint(8 * (5 - len(labels))) // bits the last number fills
		if n >= 1<<rest {
			return netip.Addr{}, true, false
		}
		v = v<<rest | n
	}
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), true, true
}

// looksNumeric reports whether a label is a decimal number or starts with
// 0x, the labels that make a host an IPv4 address rather than a name.
func looksNumeric(label string) bool {
	if label == "" {
		return false
	}
	if strings.HasPrefix(label, "0x") {
		for i := 2; i < len(label); i++ {
			if !isHex(label[i]) {
				return false
			}
		}
		return true
	}
	for i := 0; i < len(label); i++ {
		if label[i] < '0' || label[i] > '9' {
			return false
		}
	}
	return true
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f'
}

// parseIPv4Number parses one number of an inet_aton address (lower case).
// It accepts digits only: strconv alone would also take signs and
// underscores.
func parseIPv4Number(label string) (uint64, error) {
	digits, base := label, 10
	switch {
	case strings.HasPrefix(label, "0x"):
		digits, base = label[2:], 16
	case len(label) > 1 && label[0] == '0':
		digits, base = label[1:], 8
	}
	if digits == "" {
		return 0, strconv.ErrSyntax
	}
	for i := 0; i < len(digits); i++ {
		c := digits[i]
		if !isHex(c) || base <= 10 && (c < '0' || int(c-'0') >= base) {
			return 0, strconv.ErrSyntax
		}
	}
	return strconv.ParseUint(digits, base, 32)
}
