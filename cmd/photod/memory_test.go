package main

import (
	"bufio"
	"bytes"
	"compress/flate"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"mime/multipart"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/profilephoto/photo"
	"github.com/profilephoto/photo/internal/imaging/testimage"
	"github.com/profilephoto/photo/storage"
	"github.com/profilephoto/photo/storage/memstore"
)

func TestByteSizeFlag(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"512MiB", 512 << 20, true},
		{"1GiB", 1 << 30, true},
		{"64 KiB", 64 << 10, true},
		{"1000", 1000, true},
		{"10B", 10, true},
		{"0", 0, false},
		{"-1MiB", 0, false},
		{"1.5GiB", 0, false},
		{"lots", 0, false},
		{"9999999999GiB", 0, false},
	} {
		var b byteSize
		err := b.Set(c.in)
		if (err == nil) != c.ok || (c.ok && int64(b) != c.want) {
			t.Errorf("Set(%q) = %d, %v; want %d, ok %v", c.in, b, err, c.want, c.ok)
		}
	}
	if s := byteSize(768 << 20); s.String() != "768MiB" {
		t.Errorf("String() = %q, want 768MiB", s.String())
	}
}

func TestMemoryLimitDefaults(t *testing.T) {
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == "GOMEMLIMIT" {
				return v
			}
			return ""
		}
	}
	// Each case sets the process's limit; put back what it was.
	t.Cleanup(func() { setLimit(t, -1) })
	prev := setLimit(t, -1)
	t.Cleanup(func() { setLimit(t, prev) })

	// Without -memory-budget photod runs on the library's default, which
	// -memory-budget's help text gives as 512 MiB.
	m, err := photo.New(storage.NewBucket(memstore.New()), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, from := applyMemoryLimit(0, m.Options().MemoryBudget, env("")); got != 768<<20 || from != "default" {
		t.Errorf("default: %d from %s, want 768 MiB from default", got, from)
	}
	if got, _ := applyMemoryLimit(0, 256<<20, env("")); got != 384<<20 {
		t.Errorf("with -memory-budget 256MiB: %d, want 384 MiB", got)
	}
	if got, from := applyMemoryLimit(1<<30, 512<<20, env("2GiB")); got != 1<<30 || from != "-memory-limit" {
		t.Errorf("with -memory-limit: %d from %s, want 1 GiB from the flag", got, from)
	}
	setLimit(t, 2<<30)
	if got, from := applyMemoryLimit(0, 512<<20, env("2GiB")); got != 2<<30 || from != "GOMEMLIMIT" {
		t.Errorf("with GOMEMLIMIT: %d from %s, want the environment's 2 GiB", got, from)
	}
}

// setLimit sets the runtime's memory limit (unless n < 0) and returns the
// previous one.
func setLimit(t *testing.T, n int64) int64 {
	t.Helper()
	return debug.SetMemoryLimit(n)
}

// writeMultipart writes a form with one file part and returns its
// content type.
func writeMultipart(w io.Writer, field, name string, data []byte) string {
	mw := multipart.NewWriter(w)
	fw, _ := mw.CreateFormFile(field, name)
	fw.Write(data)
	mw.Close()
	return mw.FormDataContentType()
}

// buildPhotod compiles photod (without the race detector, whatever the
// test runs with: its memory is what is measured) into a temporary
// directory.
//
// PHOTOD_MEMORY_BIN, if set, names a photod binary to measure instead (to
// compare with another build).
func buildPhotod(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("PHOTOD_MEMORY_BIN"); bin != "" {
		return bin
	}
	gotool, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go command to build photod: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "photod")
	cmd := exec.Command(gotool, "build", "-o", bin, ".")
	cmd.Dir = filepath.Join(repoRoot(t), "cmd", "photod")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// proc is photod running as a process of its own.
type proc struct {
	cmd   *exec.Cmd
	url   string
	token string
	log   *syncBuffer
}

// startProc runs the photod binary on a free loopback port with a
// temporary data directory, waits until it serves, and stops it (SIGTERM,
// then SIGKILL) when the test ends.
func startProc(t *testing.T, bin string, args ...string) *proc {
	t.Helper()
	full := append([]string{"-addr", "127.0.0.1:0", "-data", t.TempDir(), "-log-level", "warn", "-janitor-interval", "0"}, args...)
	p := &proc{cmd: exec.Command(bin, full...), log: newSyncBuffer()}
	p.cmd.Stderr = p.log
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	t.Cleanup(func() {
		p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			p.cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("photod's log:\n%s", p.log.String())
		}
	})
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		p.cmd.Wait()
		close(exited)
	}()
	deadline := time.After(30 * time.Second)
	for p.url == "" || p.token == "" {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("photod exited before serving:\n%s", p.log.String())
			}
			if rest, ok := strings.CutPrefix(l, "photod: serving "); ok {
				p.url = strings.TrimSuffix(strings.Fields(rest)[0], "/")
			}
			if rest, ok := strings.CutPrefix(l, `photod: demo token for user "demo": `); ok {
				p.token = strings.TrimSpace(rest)
			}
		case <-deadline:
			t.Fatalf("photod did not start in 30 s:\n%s", p.log.String())
		}
	}
	go func() {
		for range lines {
		}
	}()
	return p
}

// peakRSS returns the process's peak resident set size (VmHWM) in bytes.
func peakRSS(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("no /proc to measure memory: %v", err)
	}
	for l := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("VmHWM: %v", err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc/PID/status")
	return 0
}

// deepPNG makes a w by h 16-bit RGBA PNG quickly and without holding its
// pixels: horizontal gradients, a translucent band at the top (so that
// the outputs keep transparency, the costlier path), and every twentieth
// band of 64 rows sprinkled with noise. Rows are Up-filtered, so the
// plain bands are runs of zeros; the zlib stream is made of independently
// compressed, flushed pieces, and every plain band reuses one piece. At
// 7000x7000 it is about a megabyte; its pixels take 392 MB.
func deepPNG(w, h int) []byte {
	const band = 64
	var out bytes.Buffer
	out.WriteString("\x89PNG\r\n\x1a\n")
	chunk := func(typ string, body []byte) {
		c := binary.BigEndian.AppendUint32(nil, uint32(len(body)))
		c = append(c, typ...)
		c = append(c, body...)
		c = binary.BigEndian.AppendUint32(c, crc32.ChecksumIEEE(c[4:]))
		out.Write(c)
	}
	hdr := make([]byte, 13)
	binary.BigEndian.PutUint32(hdr, uint32(w))
	binary.BigEndian.PutUint32(hdr[4:], uint32(h))
	hdr[8], hdr[9] = 16, 6
	chunk("IHDR", hdr)

	rng := rand.New(rand.NewPCG(uint64(w), uint64(h)))
	top := h / 50 // the translucent band
	raw := func(y int, dst []byte) {
		a := uint16(0xffff)
		if y < top {
			a = uint16(y * 0xffff / top)
		}
		noisy := (y/band)%20 == 10 && y%band != band-1
		for x := range w {
			r := uint16(x * 9)
			if noisy && rng.IntN(100) == 0 {
				r ^= uint16(rng.IntN(256))
			}
			p := dst[8*x : 8*x+8]
			binary.BigEndian.PutUint16(p, r)
			binary.BigEndian.PutUint16(p[2:], 0x4000)
			binary.BigEndian.PutUint16(p[4:], uint16(0x8000+x*4))
			binary.BigEndian.PutUint16(p[6:], a)
		}
	}
	const mod = 65521
	var sa, sb uint64 = 1, 0 // the Adler-32 of the filtered rows
	adler := func(b []byte) {
		for _, c := range b {
			sa = (sa + uint64(c)) % mod
			sb = (sb + sa) % mod
		}
	}
	compress := func(data []byte) []byte {
		var b bytes.Buffer
		fw, _ := flate.NewWriter(&b, flate.DefaultCompression)
		fw.Write(data)
		fw.Flush() // byte-aligned and not final: pieces concatenate
		return b.Bytes()
	}
	rowLen := 1 + 8*w
	var plain []byte // the piece of a band of zero rows
	var stream bytes.Buffer
	stream.Write([]byte{0x78, 0x9c})
	prev, cur := make([]byte, 8*w), make([]byte, 8*w)
	group := make([]byte, 0, band*rowLen)
	for y0 := 0; y0 < h; y0 += band {
		n := min(band, h-y0)
		isPlain := n == band && y0 > top && (y0/band)%20 != 10
		if isPlain {
			// Every row is the row above: the Up filter leaves zeros.
			if plain == nil {
				zeros := make([]byte, band*rowLen)
				for i := 0; i < len(zeros); i += rowLen {
					zeros[i] = 2
				}
				plain = compress(zeros)
			}
			stream.Write(plain)
			for range band {
				sa = (sa + 2) % mod // the filter byte
				sb = (sb + sa) % mod
				sb = (sb + uint64(rowLen-1)*sa) % mod
			}
			continue
		}
		group = group[:0]
		for y := y0; y < y0+n; y++ {
			raw(y, cur)
			group = append(group, 2)
			for i := range cur {
				group = append(group, cur[i]-prev[i])
			}
			prev, cur = cur, prev
		}
		adler(group)
		stream.Write(compress(group))
		// The next band starts from a clean row like this band's last.
		raw(y0+n-1, prev)
	}
	stream.Write([]byte{0x03, 0x00}) // an empty final block
	stream.Write(binary.BigEndian.AppendUint32(nil, uint32(sb<<16|sa)))
	chunk("IDAT", stream.Bytes())
	chunk("IEND", nil)
	return out.Bytes()
}

// uploadOutcome is what one concurrent upload got.
type uploadOutcome struct {
	ok, busy bool
	detail   string
}

// variant returns data with a comment that names upload i, so that every
// upload is a new version (the same bytes twice would be a no-op): a
// JPEG COM segment after SOI, or a PNG tEXt chunk after IHDR.
func variant(data []byte, i int) []byte {
	note := fmt.Sprintf("upload %d", i)
	if bytes.HasPrefix(data, []byte("\xff\xd8")) {
		seg := []byte{0xff, 0xfe, 0, byte(2 + len(note))}
		seg = append(seg, note...)
		return slices.Concat(data[:2], seg, data[2:])
	}
	body := append([]byte("Comment\x00"), note...)
	c := binary.BigEndian.AppendUint32(nil, uint32(len(body)))
	c = append(c, "tEXt"...)
	c = append(c, body...)
	c = binary.BigEndian.AppendUint32(c, crc32.ChecksumIEEE(c[4:]))
	const afterIHDR = 8 + 8 + 13 + 4
	return slices.Concat(data[:afterIHDR], c, data[afterIHDR:])
}

// setPhotos sends n concurrent Slack users.setPhoto uploads of variants
// of data, all as the demo user.
func setPhotos(p *proc, n int, data []byte, name string) []uploadOutcome {
	outs := make([]uploadOutcome, n)
	var wg sync.WaitGroup
	for i := range n {
		var buf bytes.Buffer
		ct := writeMultipart(&buf, "image", name, variant(data, i))
		body := buf.Bytes()
		wg.Go(func() {
			req, err := http.NewRequest("POST", p.url+"/api/users.setPhoto", bytes.NewReader(body))
			if err != nil {
				outs[i].detail = err.Error()
				return
			}
			req.Header.Set("Authorization", "Bearer "+p.token)
			req.Header.Set("Content-Type", ct)
			hc := &http.Client{Timeout: 5 * time.Minute}
			resp, err := hc.Do(req)
			if err != nil {
				outs[i].detail = err.Error()
				return
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			var m struct {
				OK    bool   `json:"ok"`
				Error string `json:"error"`
			}
			json.Unmarshal(b, &m)
			outs[i].ok = resp.StatusCode == 200 && m.OK
			// Slack's words for a retryable refusal, with Retry-After.
			outs[i].busy = m.Error == "ratelimited" || resp.StatusCode == 503 || resp.StatusCode == 429
			outs[i].detail = fmt.Sprintf("%d %s", resp.StatusCode, bytes.TrimSpace(b))
		})
	}
	wg.Wait()
	return outs
}

// memoryCase runs n concurrent uploads of data against a fresh photod and
// returns its peak RSS.
func memoryCase(t *testing.T, bin string, n int, data []byte, name string) int64 {
	t.Helper()
	p := startProc(t, bin)
	start := time.Now()
	outs := setPhotos(p, n, data, name)
	ok, busy := 0, 0
	for i, o := range outs {
		switch {
		case o.ok:
			ok++
		case o.busy:
			busy++
		default:
			t.Errorf("upload %d: neither ok nor a retryable refusal: %s", i, o.detail)
		}
	}
	if ok == 0 {
		t.Errorf("no upload succeeded")
	}
	rss := peakRSS(t, p.cmd.Process.Pid)
	t.Logf("%d concurrent uploads of %s (%.1f MB): %d ok, %d busy, in %v; photod's peak RSS %.0f MB",
		n, name, float64(len(data))/1e6, ok, busy, time.Since(start).Round(time.Millisecond), float64(rss)/1e6)
	return rss
}

// TestMemoryDeepPNG: six concurrent uploads of a 49-megapixel 16-bit RGBA
// PNG each succeed or are refused as busy, and photod's peak RSS stays
// under 700 MB (image/png alone would hold 392 MB per upload).
func TestMemoryDeepPNG(t *testing.T) {
	if testing.Short() {
		t.Skip("uploads six 49-megapixel PNGs to a photod process; skipped with -short")
	}
	bin := buildPhotod(t)
	data := deepPNG(7000, 7000)
	rss := memoryCase(t, bin, 6, data, "a 7000x7000 16-bit RGBA PNG")
	if rss > 700e6 {
		t.Errorf("peak RSS %.0f MB, want under 700 MB", float64(rss)/1e6)
	}
}

// TestMemoryJPEG: 32 concurrent uploads of a 12-megapixel JPEG keep
// photod's peak RSS under 300 MB.
func TestMemoryJPEG(t *testing.T) {
	if testing.Short() {
		t.Skip("uploads 32 12-megapixel JPEGs to a photod process; skipped with -short")
	}
	bin := buildPhotod(t)
	data, err := testimage.PhotoJPEG(4000, 3000, 12)
	if err != nil {
		t.Fatal(err)
	}
	rss := memoryCase(t, bin, 32, data, "a 4000x3000 JPEG")
	if rss > 300e6 {
		t.Errorf("peak RSS %.0f MB, want under 300 MB", float64(rss)/1e6)
	}
}
