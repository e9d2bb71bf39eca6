package jpeg

import (
	"bytes"
	"fmt"
	stdjpeg "image/jpeg"
	"os"
	"testing"
)

// phonePhoto is the 12 MP phone photo of PERF.md (Debian's
// forensics-samples-files); PHOTO_BENCH_JPEG names another file.
func phonePhoto(b *testing.B) []byte {
	path := os.Getenv("PHOTO_BENCH_JPEG")
	if path == "" {
		path = "/tmp/fs/usr/share/forensics-samples/original-files/pic2/IMG_20200608_111614.jpg"
	}
	data, err := os.ReadFile(path)
	if err != nil {
		b.Skipf("the 12 MP phone photo is absent (%v): apt-get download forensics-samples-files && dpkg-deb -x forensics-samples-files_*.deb /tmp/fs", err)
	}
	return data
}

func benchDecode(b *testing.B, data []byte) {
	b.Run("stdlib", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			if _, err := stdjpeg.Decode(bytes.NewReader(data)); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, s := range []int{1, 2, 4, 8} {
		b.Run(fmt.Sprintf("scale=1/%d", s), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, err := Decode(data, &Options{Scale: s}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDecodePhone12MP(b *testing.B) { benchDecode(b, phonePhoto(b)) }

// BenchmarkDecodeGenerated decodes a 2048x1536 photo-like JPEG made by
// image/jpeg (4:2:0, quality 90), baseline and always present.
func BenchmarkDecodeGenerated(b *testing.B) {
	benchDecode(b, encode(b, photoLike(2048, 1536, 1), 90))
}
