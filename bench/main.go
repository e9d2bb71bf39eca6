// Command bench times the library's upload and serving paths against
// libvips, bild, disintegration/imaging and http.FileServer, interleaved
// round by round on this machine, and prints medians, per-round ratios and
// peak heap. Run it with scripts/bench.sh, which installs libvips and the
// sample photo first.
//
// Workloads, each round in turn:
//   - upload: a Chatter multipart POST of the 12 MP phone photo with a
//     centre square crop (cropX 500, cropY 0, cropSize 3000) to the HTTP
//     adapter over the filesystem store, as photod serves it; the same for
//     a 1000x1000 crop of the photo (1 MP, quality 92, no crop);
//   - the same ten square renditions made in-process by libvips
//     (shrink-on-load, each size from the previous, Lanczos3, JPEG q85,
//     metadata stripped), by bild and by imaging (decode with image/jpeg,
//     crop, each size from the crop with Catmull-Rom as a user of those
//     libraries would, or from the previous size with -peers-chain;
//     JPEG q85);
//   - serving: 16 keep-alive clients fetching the stored 192 px rendition,
//     then http.FileServer serving the same bytes from a directory.
//
// One 24 MP Set (a 6000x4000 mosaic of the photo) measures peak heap.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"image"
	"image/draw"
	"image/jpeg"
	"io"
	"log"
	"log/slog"
	"math"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"runtime/pprof"
	"slices"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/anthonynsimon/bild/transform"
	"github.com/disintegration/imaging"
	"github.com/spf13/afero"

	"github.com/profilephoto/photo"
	"github.com/profilephoto/photo/httpadapter"
	"github.com/profilephoto/photo/storage"
	"github.com/profilephoto/photo/storage/aferostore"
)

// The ten square sizes photod makes by default, and the crop of the phone
// photo.
var sizes = []int{24, 32, 48, 64, 72, 160, 192, 200, 512, 1024}

const (
	cropX, cropY, cropSide = 500, 0, 3000
	quality                = 85
)

func main() {
	photoPath := flag.String("photo", ".cache/forensics/usr/share/forensics-samples/original-files/pic2/IMG_20200608_111614.jpg", "the 12 MP phone photo (4000x3000 JPEG)")
	rounds := flag.Int("rounds", 5, "rounds of every workload, interleaved")
	serveFor := flag.Duration("serve", time.Second, "how long each serving measurement runs")
	skipSlow := flag.Bool("skip-peers", false, "skip bild and imaging (slow)")
	cpuProfile := flag.String("cpuprofile", "", "after the measured rounds, profile 20 more photod uploads of -profile into `file`")
	profiled := flag.String("profile", "12MP", "the upload -cpuprofile profiles: 12MP or 1MP")
	peersChain := flag.Bool("peers-chain", false, "bild and imaging make each size from the previous one, as photod and libvips do, instead of each from the crop")
	flag.Parse()
	log.SetFlags(0)

	phone, err := os.ReadFile(*photoPath)
	if err != nil {
		log.Fatalf("the phone photo: %v (scripts/bench.sh fetches it)", err)
	}
	full, err := jpeg.Decode(bytes.NewReader(phone))
	if err != nil {
		log.Fatal(err)
	}
	if b := full.Bounds(); b.Dx() != 4000 || b.Dy() != 3000 {
		log.Fatalf("the phone photo is %v, want 4000x3000", b.Size())
	}
	oneMP := encode(crop(full, image.Rect(1500, 1000, 2500, 2000)), 92)
	mosaic := encode(tile(full, 6000, 4000), 90)
	if vipsAvailable {
		if err := vipsInit(); err != nil {
			log.Fatal(err)
		}
	}

	env := newPhotod()
	defer env.close()

	type workload struct {
		name string
		run  func() error
	}
	var user atomic.Int64
	upload := func(data []byte, withCrop bool) func() error {
		return func() error { return env.upload(fmt.Sprintf("u%d", user.Add(1)), data, withCrop) }
	}
	work := []workload{
		{"photod 12MP", upload(phone, true)},
		{"libvips 12MP", func() error { _, err := vipsRenditions(phone, cropX, cropY, cropSide, sizes, quality); return err }},
		{"photod 1MP", upload(oneMP, false)},
		{"libvips 1MP", func() error { _, err := vipsRenditions(oneMP, 0, 0, 1000, sizes, quality); return err }},
	}
	if !vipsAvailable {
		work = slices.DeleteFunc(work, func(w workload) bool { return w.name[:7] == "libvips" })
		log.Print("libvips: not built (run with -tags vips, as scripts/bench.sh does); its rows are missing")
	}
	if !*skipSlow {
		work = append(work,
			workload{"bild 12MP", func() error { return peer(phone, cropX, cropY, cropSide, bildResize, *peersChain) }},
			workload{"imaging 12MP", func() error { return peer(phone, cropX, cropY, cropSide, imagingResize, *peersChain) }},
			workload{"bild 1MP", func() error { return peer(oneMP, 0, 0, 1000, bildResize, *peersChain) }},
			workload{"imaging 1MP", func() error { return peer(oneMP, 0, 0, 1000, imagingResize, *peersChain) }},
		)
	}
	times := map[string][]time.Duration{}
	var serveRatios, servePhoto, serveStatic []float64
	// A warm-up of each, untimed.
	for _, w := range work {
		if err := w.run(); err != nil {
			log.Fatalf("%s: %v", w.name, err)
		}
	}
	for r := range *rounds {
		for _, w := range work {
			runtime.GC()
			start := time.Now()
			if err := w.run(); err != nil {
				log.Fatalf("%s: %v", w.name, err)
			}
			times[w.name] = append(times[w.name], time.Since(start))
		}
		p, s := env.serve(*serveFor)
		servePhoto, serveStatic = append(servePhoto, p), append(serveStatic, s)
		serveRatios = append(serveRatios, p/s)
		log.Printf("round %d done", r+1)
	}

	if *cpuProfile != "" {
		run := upload(phone, true)
		if *profiled == "1MP" {
			run = upload(oneMP, false)
		}
		f, err := os.Create(*cpuProfile)
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatal(err)
		}
		start := time.Now()
		for range 20 {
			if err := run(); err != nil {
				log.Fatal(err)
			}
		}
		pprof.StopCPUProfile()
		f.Close()
		log.Printf("profiled 20 uploads of %s in %v", *profiled, time.Since(start))
	}

	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "workload\tmedian ms\tmin ms\tmax ms\t\n")
	for _, w := range work {
		ts := times[w.name]
		fmt.Fprintf(tw, "%s\t%.1f\t%.1f\t%.1f\t\n", w.name, ms(median(ts)), ms(slices.Min(ts)), ms(slices.Max(ts)))
	}
	tw.Flush()
	fmt.Println()
	ratio := func(a, b string) {
		ta, tb := times[a], times[b]
		if len(ta) == 0 || len(tb) == 0 {
			return
		}
		rs := make([]float64, len(ta))
		for i := range ta {
			rs[i] = float64(ta[i]) / float64(tb[i])
		}
		fmt.Printf("%s / %s: median %.2fx, per round %s\n", a, b, medianF(rs), fmtList(rs, "%.2f"))
	}
	ratio("photod 12MP", "libvips 12MP")
	ratio("photod 1MP", "libvips 1MP")
	ratio("bild 12MP", "photod 12MP")
	ratio("imaging 12MP", "photod 12MP")
	ratio("bild 1MP", "photod 1MP")
	ratio("imaging 1MP", "photod 1MP")
	fmt.Printf("serving /photos/{user}/{version}/192, 16 clients: photo %.0f req/s, http.FileServer %.0f req/s (medians); ratio median %.2f, per round %s\n",
		medianF(servePhoto), medianF(serveStatic), medianF(serveRatios), fmtList(serveRatios, "%.2f"))

	// Quality: the 200 px rendition of the cropped phone photo against a
	// Lanczos3 resize of the same square from full resolution.
	ref := imaging.Resize(crop(full, image.Rect(cropX, cropY, cropX+cropSide, cropY+cropSide)), 200, 200, imaging.Lanczos)
	got, err := env.rendition("u1", 200)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("quality: photod's 200 px rendition, PSNR %.2f dB against a full-resolution Lanczos3 resize\n", psnr(got, ref))
	if vipsAvailable {
		out, err := vipsRenditions(phone, cropX, cropY, cropSide, []int{200}, quality)
		if err == nil {
			if img, err := jpeg.Decode(bytes.NewReader(out[0])); err == nil {
				fmt.Printf("quality: libvips's 200 px rendition, PSNR %.2f dB\n", psnr(img, ref))
			}
		}
	}

	// Peak heap of one 24 MP Set.
	peak, dur, err := peakHeap(func() error {
		m, err := photo.New(env.bucket, &photo.Options{Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			return err
		}
		_, err = m.Set(context.Background(), "mosaic", bytes.NewReader(mosaic), nil)
		return err
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("peak heap of one 24 MP Set (6000x4000): %.1f MB in %.0f ms\n", float64(peak)/1e6, ms(dur))
}

// photod is the HTTP adapter over a filesystem store, as photod serves it.
type photodEnv struct {
	dir    string
	bucket *storage.Bucket
	m      *photo.Manager
	srv    *httptest.Server
	static *httptest.Server
	client *http.Client
	bytes  []byte // the 192 px rendition served, for the static server
	url192 string
}

func newPhotod() *photodEnv {
	dir, err := os.MkdirTemp("", "photobench")
	if err != nil {
		log.Fatal(err)
	}
	st, err := aferostore.New(afero.NewBasePathFs(afero.NewOsFs(), filepath.Join(dir, "objects")), nil)
	if err != nil {
		log.Fatal(err)
	}
	quiet := slog.New(slog.DiscardHandler)
	bucket := storage.NewBucket(st)
	m, err := photo.New(bucket, &photo.Options{Logger: quiet})
	if err != nil {
		log.Fatal(err)
	}
	h, err := httpadapter.New(m, &httpadapter.Options{
		Logger: quiet,
		Authenticate: func(r *http.Request) (httpadapter.Principal, error) {
			return httpadapter.Principal{ID: "bench", Admin: true}, nil
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	e := &photodEnv{dir: dir, bucket: bucket, m: m, srv: httptest.NewServer(h)}
	e.client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	return e
}

func (e *photodEnv) close() {
	e.srv.Close()
	if e.static != nil {
		e.static.Close()
	}
	os.RemoveAll(e.dir)
}

// upload sets user's photo through Chatter's multipart POST.
func (e *photodEnv) upload(user string, data []byte, withCrop bool) error {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	if withCrop {
		mw.WriteField("json", fmt.Sprintf(`{"cropX":%d,"cropY":%d,"cropSize":%d}`, cropX, cropY, cropSide))
	}
	fw, _ := mw.CreateFormFile("fileUpload", "photo.jpg")
	fw.Write(data)
	mw.Close()
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/services/data/v60.0/chatter/users/"+user+"/photo", &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, err := e.client.Do(req)
	if err != nil {
		return err
	}
	msg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		return fmt.Errorf("upload: %s: %s", resp.Status, msg)
	}
	return nil
}

// rendition returns the decoded rendition of user's photo at size.
func (e *photodEnv) rendition(user string, size int) (image.Image, error) {
	p, err := e.m.Get(context.Background(), user)
	if err != nil {
		return nil, err
	}
	b, err := e.m.OpenRendition(context.Background(), user, p.VersionID, size, "")
	if err != nil {
		return nil, err
	}
	defer b.Close()
	img, _, err := image.Decode(b)
	return img, err
}

// serve measures requests a second for the 192 px rendition of u1 through
// the adapter and for the same bytes through http.FileServer, each for d.
func (e *photodEnv) serve(d time.Duration) (photoRate, staticRate float64) {
	if e.static == nil {
		p, err := e.m.Get(context.Background(), "u1")
		if err != nil {
			log.Fatal(err)
		}
		b, err := e.m.OpenRendition(context.Background(), "u1", p.VersionID, 192, "")
		if err != nil {
			log.Fatal(err)
		}
		e.bytes, _ = io.ReadAll(b)
		b.Close()
		static := filepath.Join(e.dir, "static")
		os.MkdirAll(static, 0o755)
		os.WriteFile(filepath.Join(static, "192.jpg"), e.bytes, 0o644)
		e.static = httptest.NewServer(http.FileServer(http.Dir(static)))
		e.url192 = e.srv.URL + "/photos/u1/" + p.VersionID + "/192"
	}
	return hammer(e.url192, len(e.bytes), d), hammer(e.static.URL+"/192.jpg", len(e.bytes), d)
}

// hammer fetches url from 16 keep-alive clients for d and returns
// requests a second.
func hammer(url string, want int, d time.Duration) float64 {
	const clients = 16
	tr := &http.Transport{MaxIdleConnsPerHost: clients}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	var n atomic.Int64
	var wg sync.WaitGroup
	stop := time.Now().Add(d)
	start := time.Now()
	for range clients {
		wg.Go(func() {
			for time.Now().Before(stop) {
				resp, err := c.Get(url)
				if err != nil {
					log.Fatal(err)
				}
				got, _ := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK || got != int64(want) {
					log.Fatalf("GET %s: %s, %d bytes", url, resp.Status, got)
				}
				n.Add(1)
			}
		})
	}
	wg.Wait()
	return float64(n.Load()) / time.Since(start).Seconds()
}

// peer makes the renditions as a user of bild or imaging would: decode
// with image/jpeg, crop, resize to each size (from the crop, or when chain
// is set from the previous size), encode with image/jpeg.
func peer(data []byte, x, y, side int, resize func(image.Image, int) image.Image, chain bool) error {
	img, err := jpeg.Decode(bytes.NewReader(data))
	if err != nil {
		return err
	}
	square := crop(img, image.Rect(x, y, x+side, y+side))
	desc := slices.Clone(sizes)
	slices.Reverse(desc)
	cur := square
	for _, s := range desc {
		from := square
		if chain {
			from = cur
		}
		cur = resize(from, s)
		if err := jpeg.Encode(io.Discard, cur, &jpeg.Options{Quality: quality}); err != nil {
			return err
		}
	}
	return nil
}

func bildResize(img image.Image, s int) image.Image {
	return transform.Resize(img, s, s, transform.CatmullRom)
}

func imagingResize(img image.Image, s int) image.Image {
	return imaging.Resize(img, s, s, imaging.CatmullRom)
}

// crop returns the part r of img as an image of its own with origin 0.
func crop(img image.Image, r image.Rectangle) image.Image {
	out := image.NewRGBA(image.Rect(0, 0, r.Dx(), r.Dy()))
	draw.Draw(out, out.Bounds(), img, r.Min, draw.Src)
	return out
}

// tile returns a w x h image made of copies of img.
func tile(img image.Image, w, h int) image.Image {
	out := image.NewRGBA(image.Rect(0, 0, w, h))
	b := img.Bounds()
	for y := 0; y < h; y += b.Dy() {
		for x := 0; x < w; x += b.Dx() {
			draw.Draw(out, image.Rect(x, y, x+b.Dx(), y+b.Dy()), img, b.Min, draw.Src)
		}
	}
	return out
}

func encode(img image.Image, q int) []byte {
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: q}); err != nil {
		log.Fatal(err)
	}
	return buf.Bytes()
}

// psnr compares a and b over their RGB channels.
func psnr(a, b image.Image) float64 {
	ab, bb := a.Bounds(), b.Bounds()
	if ab.Size() != bb.Size() {
		log.Fatalf("psnr: sizes %v and %v differ", ab.Size(), bb.Size())
	}
	var sum float64
	for y := range ab.Dy() {
		for x := range ab.Dx() {
			r1, g1, b1, _ := a.At(ab.Min.X+x, ab.Min.Y+y).RGBA()
			r2, g2, b2, _ := b.At(bb.Min.X+x, bb.Min.Y+y).RGBA()
			for _, d := range []float64{float64(r1>>8) - float64(r2>>8), float64(g1>>8) - float64(g2>>8), float64(b1>>8) - float64(b2>>8)} {
				sum += d * d
			}
		}
	}
	mse := sum / float64(3*ab.Dx()*ab.Dy())
	return 10 * math.Log10(255*255/mse)
}

// peakHeap runs f and returns the most heap it held above what was live
// before, sampled every 200 µs, and how long f took.
func peakHeap(f func() error) (uint64, time.Duration, error) {
	debug.FreeOSMemory()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	read := func() uint64 {
		metrics.Read(sample)
		return sample[0].Value.Uint64()
	}
	base := read()
	var peak atomic.Uint64
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(200 * time.Microsecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				if v := read(); v > peak.Load() {
					peak.Store(v)
				}
			}
		}
	}()
	start := time.Now()
	err := f()
	d := time.Since(start)
	close(done)
	p := peak.Load()
	if p < base {
		return 0, d, err
	}
	return p - base, d, err
}

func median(ts []time.Duration) time.Duration {
	s := slices.Clone(ts)
	slices.Sort(s)
	return s[len(s)/2]
}

func medianF(fs []float64) float64 {
	s := slices.Clone(fs)
	slices.Sort(s)
	return s[len(s)/2]
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

func fmtList(fs []float64, f string) string {
	out := ""
	for i, v := range fs {
		if i > 0 {
			out += " "
		}
		out += fmt.Sprintf(f, v)
	}
	return out
}
