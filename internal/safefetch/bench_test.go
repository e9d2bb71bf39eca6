package safefetch

import (
	"io"
	"testing"
)

// BenchmarkFetch measures one whole fetch of a generated JPEG (about 10 KB)
// from loopback: policy checks, a fresh connection, the capped body read.
func BenchmarkFetch(b *testing.B) {
	l := newLab(b)
	f := New(l.options(Options{Allow: allowLoopback}))
	for _, host := range []string{"127.0.0.1", "public.example"} {
		b.Run(host, func(b *testing.B) {
			u := l.url(host, "/photo.jpg")
			b.SetBytes(int64(len(l.image)))
			for b.Loop() {
				resp, err := f.Fetch(b.Context(), u)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := io.Copy(io.Discard, resp); err != nil {
					b.Fatal(err)
				}
				resp.Close()
				l.reset()
			}
		})
	}
}
