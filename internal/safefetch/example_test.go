package safefetch_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"

	"github.com/profilephoto/photo/internal/safefetch"
)

func Example() {
	// A server on loopback stands in for an image host; photod's
	// -url-import-allow 127.0.0.0/8 gives the same allowance.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		w.Write([]byte("\x89PNG\r\n\x1a\n"))
	}))
	defer srv.Close()

	f := safefetch.New(&safefetch.Options{
		Allow:    []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")},
		MaxBytes: 1 << 20,
	})
	resp, err := f.Fetch(context.Background(), srv.URL+"/avatar.png")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Close()
	b, err := io.ReadAll(resp) // a photo library reads it the same way
	fmt.Println(len(b), resp.ContentType, err)

	// Without the allowance, loopback is refused, however it is spelled.
	_, err = safefetch.New(nil).Fetch(context.Background(), "http://2130706433/avatar.png")
	var e *safefetch.Error
	if errors.As(err, &e) {
		fmt.Println(e.Kind, "-", e.Message)
	}
	// Output:
	// 8 image/png <nil>
	// not-allowed - the URL's address is not allowed
}
