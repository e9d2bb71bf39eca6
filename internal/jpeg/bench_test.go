package jpeg

import (
	"bytes"
	"context"
	"fmt"
	stdjpeg "image/jpeg"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/profilephoto/photo/internal/sched"
)

// phonePhoto is the 12 MP phone photo of PERF.md (Debian's
// forensics-samples-files); PHOTO_BENCH_JPEG names another file.
func phonePhoto(b *testing.B) []byte {
	path := os.Getenv("PHOTO_BENCH_JPEG")
	if path == "" {
		path = "/tmp/fs/usr/share/forensics-samples/original-files/pic2/IMG_20200608_111614.jpg"
		if _, err := os.Stat(path); err != nil {
			path = "../../.cache/forensics/usr/share/forensics-samples/original-files/pic2/IMG_20200608_111614.jpg" // where bench/ looks
		}
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

// cpuTime is the CPU time the process has used, every thread.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkDecodePhonePool decodes the 12 MP phone photo at 1/1 and 1/2
// on one goroutine (Pool nil) and with a Pool of two tokens of which the
// caller holds one (the helper takes the other), rounds interleaved, and
// reports the CPU time per decode beside the wall time:
//
//	go test -run '^$' -bench DecodePhonePool -benchtime 20x -count 5 ./internal/jpeg
func BenchmarkDecodePhonePool(b *testing.B) {
	data := phonePhoto(b)
	for _, s := range []int{1, 2} {
		for _, mode := range []string{"nil", "pool2"} {
			b.Run(fmt.Sprintf("scale=1/%d/%s", s, mode), func(b *testing.B) {
				opts := &Options{Scale: s}
				if mode == "pool2" {
					opts.Pool = sched.New(2)
					if err := opts.Pool.Acquire(context.Background()); err != nil {
						b.Fatal(err)
					}
					defer opts.Pool.Release()
				}
				cpu := cpuTime()
				for b.Loop() {
					if _, err := Decode(data, opts); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(cpuTime()-cpu)/1e6/float64(b.N), "cpu-ms/op")
			})
		}
	}
}

// BenchmarkDecodeGenerated decodes a 2048x1536 photo-like JPEG made by
// image/jpeg (4:2:0, quality 90), baseline and always present.
func BenchmarkDecodeGenerated(b *testing.B) {
	benchDecode(b, encode(b, photoLike(2048, 1536, 1), 90))
}

// bitWriter writes entropy-coded bits with 0xff stuffing.
type bitWriter struct {
	out  []byte
	acc  uint32
	nacc uint
}

func (w *bitWriter) write(v uint32, n uint) {
	for i := int(n) - 1; i >= 0; i-- {
		w.acc = w.acc<<1 | v>>uint(i)&1
		w.nacc++
		if w.nacc == 8 {
			w.out = append(w.out, byte(w.acc))
			if byte(w.acc) == 0xff {
				w.out = append(w.out, 0)
			}
			w.acc, w.nacc = 0, 0
		}
	}
}

func (w *bitWriter) flush() []byte {
	for w.nacc != 0 {
		w.write(1, 1)
	}
	return w.out
}

// manyScans builds a hostile progressive gray JPEG of side x side pixels:
// a DC scan, then scans-1 AC refinement scans of a few bytes each, made of
// end-of-band runs over every block.
func manyScans(side, scans int) []byte {
	seg := func(m byte, payload ...byte) []byte {
		n := len(payload) + 2
		return append([]byte{0xff, m, byte(n >> 8), byte(n)}, payload...)
	}
	var f []byte
	f = append(f, 0xff, 0xd8)
	q := make([]byte, 65)
	for i := 1; i < 65; i++ {
		q[i] = 1
	}
	f = append(f, seg(0xdb, q...)...)
	f = append(f, seg(0xc2, 8, byte(side>>8), byte(side), byte(side>>8), byte(side), 1, 1, 0x11, 0)...)
	one := make([]byte, 16)
	one[0] = 1                                                                 // a single code "0"
	f = append(f, seg(0xc4, append(append([]byte{0x00}, one...), 0x00)...)...) // DC: category 0
	f = append(f, seg(0xc4, append(append([]byte{0x10}, one...), 0xe0)...)...) // AC: EOB run, 14 extra bits
	blocks := (side / 8) * (side / 8)
	// DC scan: one bit per block.
	f = append(f, seg(0xda, 1, 1, 0x00, 0, 0, 0x01)...)
	var w bitWriter
	for range blocks {
		w.write(0, 1)
	}
	f = append(f, w.flush()...)
	for range scans - 1 {
		f = append(f, seg(0xda, 1, 1, 0x00, 1, 63, 0x10)...)
		var w bitWriter
		for left := blocks; left > 0; left -= 32767 {
			w.write(0, 1)                    // the EOB-run code
			w.write(uint32(32767-16384), 14) // a run of 32767 blocks
		}
		f = append(f, w.flush()...)
	}
	return append(f, 0xff, 0xd9)
}

// BenchmarkHostileScans decodes a 16 MP progressive file of 100 scans (the
// most Decode reads) that is under 3 KB: the cost of such an upload.
func BenchmarkHostileScans(b *testing.B) {
	data := manyScans(4096, maxScans)
	if _, err := Decode(data, nil); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Decode(data, &Options{Scale: 8}); err != nil {
			b.Fatal(err)
		}
	}
}
