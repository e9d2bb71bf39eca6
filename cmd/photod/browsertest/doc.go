// Package browsertest drives photod's web page in Debian's chromium
// (chromedp over the DevTools protocol): pick, crop and upload a photo,
// the resumable upload in chunks, and a photo set from a URL.
//
// It is a module of its own, github.com/profilephoto/photo/cmd/photod/browsertest,
// so that chromedp and its dependencies stay out of the library's go.mod
// and out of the module graph of every program that uses the library. It
// imports nothing of the repository: it builds ./cmd/photod from the
// repository root and runs it as a separate process on loopback. Its
// tests are in browser_test.go; scripts/test.sh runs them with every other
// module's.
package browsertest
