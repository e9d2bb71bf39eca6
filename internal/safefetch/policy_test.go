package safefetch

import (
	"net/netip"
	"testing"
)

func TestIsPublic(t *testing.T) {
	tests := []struct {
		name   string
		addr   string
		public bool
	}{
		{"public v4", "93.184.215.14", true},
		{"public v4 near private", "172.32.0.1", true},
		{"public v4 near cgnat", "100.128.0.1", true},
		{"public v6", "2606:2800:21f:cb07:6820:80da:af6b:8b2c", true},
		{"mapped public", "::ffff:93.184.215.14", true},
		{"nat64 of public", "64:ff9b::5db8:d70e", true},
		{"6to4 of public", "2002:5db8:d70e::1", true},
		{"this network", "0.1.2.3", false},
		{"unspecified v4", "0.0.0.0", false},
		{"private 10", "10.0.0.5", false},
		{"cgnat", "100.64.0.1", false},
		{"loopback", "127.0.0.1", false},
		{"loopback high", "127.255.255.254", false},
		{"link-local", "169.254.1.1", false},
		{"metadata", "169.254.169.254", false},
		{"private 172", "172.16.0.1", false},
		{"private 172 top", "172.31.255.255", false},
		{"ietf", "192.0.0.170", false},
		{"test-net-1", "192.0.2.1", false},
		{"private 192", "192.168.1.1", false},
		{"benchmarking", "198.18.0.1", false},
		{"test-net-2", "198.51.100.1", false},
		{"test-net-3", "203.0.113.1", false},
		{"multicast v4", "224.0.0.1", false},
		{"reserved", "240.0.0.1", false},
		{"broadcast", "255.255.255.255", false},
		{"unspecified v6", "::", false},
		{"loopback v6", "::1", false},
		{"mapped loopback", "::ffff:127.0.0.1", false},
		{"mapped metadata", "::ffff:169.254.169.254", false},
		{"mapped private", "::ffff:10.0.0.1", false},
		{"ipv4-compatible", "::127.0.0.1", false},
		{"nat64 of loopback", "64:ff9b::7f00:1", false},
		{"nat64 of metadata", "64:ff9b::a9fe:a9fe", false},
		{"nat64 local use", "64:ff9b:1::5db8:d70e", false},
		{"6to4 of private", "2002:a00:1::1", false},
		{"6to4 of loopback", "2002:7f00:1::1", false},
		{"teredo", "2001:0:4136:e378:8000:63bf:3fff:fdd2", false},
		{"documentation v6", "2001:db8::1", false},
		{"documentation v6 new", "3fff::1", false},
		{"unique-local", "fd00::1", false},
		{"unique-local fc", "fc00::1", false},
		{"link-local v6", "fe80::1", false},
		{"link-local v6 zone", "fe80::1%eth0", false},
		{"public v6 with zone", "2606:2800::1%eth0", false},
		{"site-local", "fec0::1", false},
		{"multicast v6", "ff02::1", false},
		{"discard", "100::1", false},
		{"invalid", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var a netip.Addr
			if tt.addr != "" {
				a = netip.MustParseAddr(tt.addr)
			}
			if got := IsPublic(a); got != tt.public {
				t.Errorf("IsPublic(%s) = %v, want %v", tt.addr, got, tt.public)
			}
		})
	}
}

func TestPermitted(t *testing.T) {
	f := New(&Options{Allow: []netip.Prefix{
		netip.MustParsePrefix("127.0.0.0/8"),
		netip.MustParsePrefix("::ffff:10.1.0.0/112"), // means 10.1.0.0/16
		netip.MustParsePrefix("fd00::1/64"),          // not masked
		{},                                           // invalid: ignored
	}})
	tests := []struct {
		addr string
		want bool
	}{
		{"127.0.0.1", true},
		{"::ffff:127.0.0.1", true},
		{"10.1.2.3", true},
		{"::ffff:10.1.2.3", true},
		{"10.2.0.1", false},
		{"fd00::abcd", true},
		{"fd01::1", false},
		{"::1", false},
		{"169.254.169.254", false},
		{"93.184.215.14", true},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			if got := f.permitted(netip.MustParseAddr(tt.addr)); got != tt.want {
				t.Errorf("permitted(%s) = %v, want %v", tt.addr, got, tt.want)
			}
		})
	}
}
