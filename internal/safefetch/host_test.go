package safefetch

import (
	"errors"
	"net/netip"
	"testing"
)

func TestParseHost(t *testing.T) {
	tests := []struct {
		name string
		host string
		addr string // want this address, or
		dns  string // want this name, or neither: an invalid-url error
	}{
		{name: "dotted quad", host: "127.0.0.1", addr: "127.0.0.1"},
		{name: "two parts", host: "127.1", addr: "127.0.0.1"},
		{name: "three parts", host: "127.0.1", addr: "127.0.0.1"},
		{name: "decimal", host: "2130706433", addr: "127.0.0.1"},
		{name: "hex", host: "0x7f000001", addr: "127.0.0.1"},
		{name: "hex upper case", host: "0X7F000001", addr: "127.0.0.1"},
		{name: "octal", host: "017700000001", addr: "127.0.0.1"},
		{name: "mixed bases", host: "0x7f.0.00.01", addr: "127.0.0.1"},
		{name: "hex and fill", host: "0x7f.1", addr: "127.0.0.1"},
		{name: "trailing dot", host: "127.0.0.1.", addr: "127.0.0.1"},
		{name: "metadata decimal", host: "2852039166", addr: "169.254.169.254"},
		{name: "metadata hex", host: "0xa9fea9fe", addr: "169.254.169.254"},
		{name: "metadata two parts", host: "169.16689662", addr: "169.254.169.254"},
		{name: "zero", host: "0", addr: "0.0.0.0"},
		{name: "all ones", host: "4294967295", addr: "255.255.255.255"},
		{name: "long hex", host: "0x000000000a000001", addr: "10.0.0.1"},
		{name: "ipv6 loopback", host: "::1", addr: "::1"},
		{name: "ipv4-mapped", host: "::ffff:127.0.0.1", addr: "::ffff:127.0.0.1"},
		{name: "ipv6 with zone", host: "fe80::1%eth0", addr: "fe80::1%eth0"},
		{name: "name", host: "Example.COM.", dns: "example.com"},
		{name: "localhost", host: "LOCALHOST", dns: "localhost"},
		{name: "numeric first label", host: "127.example", dns: "127.example"},
		{name: "hex-looking first label", host: "0x7f.example", dns: "0x7f.example"},
		{name: "underscore", host: "_srv.example", dns: "_srv.example"},
		{name: "empty", host: ""},
		{name: "decimal overflow", host: "4294967296"},
		{name: "octet overflow", host: "256.0.0.1"},
		{name: "fill overflow", host: "1.2.65536"},
		{name: "hex octet overflow", host: "0x100.1"},
		{name: "five parts", host: "1.2.3.4.5"},
		{name: "bad octal", host: "08"},
		{name: "bare 0x", host: "0x"},
		{name: "bare 0x last", host: "1.2.3.0x"},
		{name: "empty part", host: "1..2"},
		{name: "two trailing dots", host: "127.0.0.1.."},
		{name: "space", host: "127.0.0.1 example"},
		{name: "plus sign", host: "+127.0.0.1"},
		{name: "bad ipv6", host: ":::1"},
		{name: "empty label", host: "a..example"},
		{name: "long label", host: "a123456789012345678901234567890123456789012345678901234567890123.example"},
		{name: "percent", host: "exa%mple"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, name, err := parseHost(tt.host)
			switch {
			case tt.addr != "":
				if err != nil || a != netip.MustParseAddr(tt.addr) || name != "" {
					t.Fatalf("parseHost(%q) = %v, %q, %v; want address %s", tt.host, a, name, err, tt.addr)
				}
			case tt.dns != "":
				if err != nil || a.IsValid() || name != tt.dns {
					t.Fatalf("parseHost(%q) = %v, %q, %v; want name %q", tt.host, a, name, err, tt.dns)
				}
			default:
				if !errors.Is(err, ErrInvalidURL) {
					t.Fatalf("parseHost(%q) = %v, %q, %v; want an invalid-url error", tt.host, a, name, err)
				}
			}
		})
	}
}
