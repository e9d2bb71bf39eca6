// Package safefetch downloads a URL given by a user (a profile photo to
// import) without letting that user reach what the server can reach and
// they cannot: loopback, private networks, link-local cloud metadata.
//
// Policy: only http and https, no credentials in the URL, and only public
// unicast addresses (see IsPublic) plus the networks Options.Allow names.
// The fetcher resolves names itself, checks every address a name resolves
// to, and dials only addresses it checked and permitted (a name none of
// whose addresses is permitted is refused), for the first request and for
// every redirect, so a name that resolves differently the second time (DNS
// rebinding) gains nothing. Numeric hosts are read as the operating system reads them
// (127.1, 2130706433, 0x7f000001 and [::ffff:127.0.0.1] are all loopback).
// Proxies from the environment are never used. The body is capped at
// Options.MaxBytes, the whole fetch at Options.Timeout, and a server that
// stops sending for Options.IdleTimeout is cut off.
//
//	f := safefetch.New(&safefetch.Options{Allow: allowed, MaxBytes: limits.MaxBytes})
//	resp, err := f.Fetch(ctx, rawURL) // a *safefetch.Error on failure
//	if err != nil {
//		return err
//	}
//	defer resp.Close()
//	p, err := svc.Set(ctx, userID, resp, nil) // read errors wrap a *safefetch.Error
//
// Every error is an *Error whose Kind tells a bad URL (KindInvalidURL), a
// refusal by policy (KindNotAllowed), a body over the cap (KindTooLarge) and
// any other failure (KindFailed) apart; its Message is safe to show.
package safefetch
