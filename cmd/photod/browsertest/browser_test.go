package browsertest

import (
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	_ "image/jpeg"
	_ "image/png"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// chromiumPath is Debian's chromium, which scripts/install-chromium.sh
// installs.
const chromiumPath = "/usr/bin/chromium"

// browser starts a headless chromium for the test, or skips the test when
// there is none (outside CI; in CI a missing browser is a failure).
func browser(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is missing: CI must run the browser test (scripts/install-chromium.sh installs it)", chromiumPath)
		}
		t.Skipf("%s is missing: run scripts/install-chromium.sh (as root) to run the browser test", chromiumPath)
	}
	if testing.Short() {
		t.Skip("the browser test does not run with -short")
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		// Without these, chromium reaches for Google's services, which a
		// test must never do.
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("force-color-profile", "srgb"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	ctx, cancelCtx := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancelCtx()
		cancelAlloc()
	})
	// Start the browser now, on a context without a deadline: the first
	// Run binds the browser's life to its context.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return ctx
}

// consoleErrors collects what the page writes to the console as errors:
// console.error calls, uncaught exceptions and unhandled rejections, and
// browser log errors such as failed requests.
type consoleErrors struct {
	mu   sync.Mutex
	msgs []string
}

func watchConsole(ctx context.Context) *consoleErrors {
	c := &consoleErrors{}
	msgs := chromedp.Console(ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleException || m.Type == "assert" {
				c.mu.Lock()
				c.msgs = append(c.msgs, fmt.Sprintf("%s (%s:%d)", m, m.URL, m.Line+1))
				c.mu.Unlock()
			}
		}
	}()
	return c
}

func (c *consoleErrors) list() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.msgs)
}

// cropBox is the crop the page shows, in the upright photo's pixels.
type cropBox struct{ X, Y, Size int }

func readCrop(t *testing.T, ctx context.Context) cropBox {
	t.Helper()
	c, err := chromedp.Run(ctx, chromedp.Evaluate[cropBox](`(() => {
		const d = document.getElementById("crop-box").dataset;
		return {X: Number(d.x), Y: Number(d.y), Size: Number(d.size)};
	})()`))
	if err != nil {
		t.Fatalf("reading the crop: %v", err)
	}
	return c
}

// do runs actions with a timeout, failing the test on error.
func do(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := chromedp.Do(tctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func eval[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	v, err := chromedp.Run(tctx, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("evaluating %s: %v", js, err)
	}
	return v
}

// waitFor polls a JavaScript condition in the page until it is true.
func waitFor(t *testing.T, ctx context.Context, what, cond string) {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if _, err := chromedp.Run(tctx, chromedp.Poll[chromedp.Void](cond, chromedp.WithPollingInterval(50*time.Millisecond))); err != nil {
		alert := eval[string](t, ctx, `document.getElementById("alert").textContent`)
		t.Fatalf("waiting for %s: %v (page alert: %q)", what, err, alert)
	}
}

// TestBrowser drives the page in Debian's chromium against photod on
// loopback: pick a real photo (stored rotated, EXIF orientation 6), move
// and resize the crop box with keyboard and mouse, upload, check every
// rendition image and the crop's pixels, take a screenshot, delete.
func TestBrowser(t *testing.T) {
	ctx := browser(t)
	srv := startPhotod(t)
	console := watchConsole(ctx)

	do(t, ctx, "loading the page", chromedp.Navigate(srv.URL+"/"))
	waitFor(t, ctx, "the page to start", `document.body.dataset.ready === "true"`)

	token := eval[string](t, ctx, `document.getElementById("token").value`)
	if token != srv.Token || token == "" {
		t.Fatalf("the token field holds %q, want the demo token %q", token, srv.Token)
	}
	if u := eval[string](t, ctx, `document.getElementById("user").value`); u != demoUser {
		t.Fatalf("the user field holds %q, want %q", u, demoUser)
	}

	// Landscape_6.jpg is stored 1200x1800 with orientation 6: upright it
	// is 1800x1200, and the crop is in upright pixels.
	src := testdata(t, "exif-orientation-examples/Landscape_6.jpg")
	do(t, ctx, "picking the photo", chromedp.SetUploadFiles(chromedp.CSS("#file"), []string{src}))
	waitFor(t, ctx, "the crop editor", `!document.getElementById("editor").hidden && document.getElementById("crop-box").dataset.size > 0`)
	if nat := eval[[]int](t, ctx, `[document.getElementById("source").naturalWidth, document.getElementById("source").naturalHeight]`); !slices.Equal(nat, []int{1800, 1200}) {
		t.Fatalf("the page sees the photo as %v, want the upright 1800x1200", nat)
	}

	// The box starts centred at 80% of the short side; keyboard steps are
	// 1/50 of the short side (24 px).
	if got, want := readCrop(t, ctx), (cropBox{X: 420, Y: 120, Size: 960}); got != want {
		t.Fatalf("initial crop %+v, want %+v", got, want)
	}
	do(t, ctx, "focusing the crop box", chromedp.Focus(chromedp.CSS("#crop-box")))
	do(t, ctx, "moving the crop box with arrow keys",
		chromedp.KeyEvent(kb.ArrowRight+kb.ArrowRight+kb.ArrowRight), // x 420 -> 492
		chromedp.KeyEvent(kb.ArrowUp+kb.ArrowUp),                     // y 120 -> 72
		// Shrinking by one step takes 2 steps off the size, about the centre.
		chromedp.KeyEvent(kb.ArrowDown+kb.ArrowDown, chromedp.KeyModifiers(chromedp.ModifierShift)), // size 864 at 540,120
		chromedp.KeyEvent("-"), // size 816 at 564,144
	)
	if got, want := readCrop(t, ctx), (cropBox{X: 564, Y: 144, Size: 816}); got != want {
		t.Fatalf("crop after the keys %+v, want %+v", got, want)
	}

	// Drag the box with the mouse: left and down by some CSS pixels. The
	// stage is scrolled into the middle of the viewport first: the mouse
	// acts only on what is in view.
	do(t, ctx, "scrolling to the stage", chromedp.Evaluate[chromedp.Void](`document.getElementById("stage").scrollIntoView({block: "center"})`))
	type rect struct{ X, Y, W, H, ImgW float64 }

	r := eval[rect](t, ctx, `(() => {
		const b = document.getElementById("crop-box").getBoundingClientRect();
		const i = document.getElementById("source").getBoundingClientRect();
		return {X: b.x, Y: b.y, W: b.width, H: b.height, ImgW: i.width};
	})()`)
	before := readCrop(t, ctx)
	const dx, dy = -120.0, 40.0
	cx, cy := r.X+r.W/2, r.Y+r.H/2
	steps := []chromedp.Action[chromedp.Void]{chromedp.MouseEvent(input.DispatchMouseEventTypeMousePressed, cx, cy, chromedp.ButtonLeft)}
	for i := 1; i <= 8; i++ {
		steps = append(steps, chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, cx+dx*float64(i)/8, cy+dy*float64(i)/8, chromedp.ButtonLeft))
	}
	steps = append(steps, chromedp.MouseEvent(input.DispatchMouseEventTypeMouseReleased, cx+dx, cy+dy, chromedp.ButtonLeft))
	do(t, ctx, "dragging the crop box", steps...)
	after := readCrop(t, ctx)
	scale := r.ImgW / 1800
	wantX := float64(before.X) + dx/scale
	wantY := float64(before.Y) + dy/scale
	if math.Abs(float64(after.X)-wantX) > 2 || math.Abs(float64(after.Y)-wantY) > 2 || after.Size != before.Size {
		t.Fatalf("crop after dragging by (%v, %v) CSS px at scale %.3f: %+v, want about x %.0f y %.0f size %d", dx, dy, scale, after, wantX, wantY, before.Size)
	}
	// Drag the bottom-right handle: the box grows about its top-left corner.
	se := eval[rect](t, ctx, `(() => {
		const b = document.querySelector("#crop-box .handle.se").getBoundingClientRect();
		return {X: b.x, Y: b.y, W: b.width, H: b.height};
	})()`)
	const grow = 20.0
	hx, hy := se.X+se.W/2, se.Y+se.H/2
	do(t, ctx, "resizing with the corner handle",
		chromedp.MouseEvent(input.DispatchMouseEventTypeMousePressed, hx, hy, chromedp.ButtonLeft),
		chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, hx+grow/2, hy+grow/2, chromedp.ButtonLeft),
		chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, hx+grow, hy+grow, chromedp.ButtonLeft),
		chromedp.MouseEvent(input.DispatchMouseEventTypeMouseReleased, hx+grow, hy+grow, chromedp.ButtonLeft),
	)
	resized := readCrop(t, ctx)
	wantSize := float64(after.Size) + grow/scale
	if resized.X != after.X || resized.Y != after.Y || math.Abs(float64(resized.Size)-wantSize) > 2 {
		t.Fatalf("crop after dragging the corner by %v CSS px: %+v, want x %d y %d size about %.0f", grow, resized, after.X, after.Y, wantSize)
	}
	crop := resized
	t.Logf("crop sent: %+v", crop)

	// Upload and wait for the renditions to load.
	do(t, ctx, "uploading", chromedp.Click(chromedp.CSS("#upload")))
	waitFor(t, ctx, "the renditions to load", `(() => {
		const imgs = [...document.querySelectorAll("#renditions img")];
		return imgs.length > 0 && imgs.every((i) => i.complete && i.naturalWidth > 0);
	})()`)
	if alert := eval[string](t, ctx, `document.getElementById("alert").textContent`); alert != "" {
		t.Fatalf("the page shows an error after the upload: %q", alert)
	}

	// What the API says, read over HTTP in Go.
	var api profileImageBody
	getJSON(t, srv.URL+"/v1/users/"+demoUser+"/profile/profile-image", srv.Token, &api)
	if api.Status != "ready" || api.VersionID == "" || len(api.Renditions) == 0 {
		t.Fatalf("profile-image after the upload: %+v", api)
	}
	if got := eval[string](t, ctx, `document.getElementById("f-version").textContent`); got != api.VersionID {
		t.Errorf("the page shows version %q, the API %q", got, api.VersionID)
	}
	if got := eval[string](t, ctx, `document.getElementById("f-status").textContent`); got != "ready" {
		t.Errorf("the page shows status %q, want ready", got)
	}

	// Every rendition the API lists is on the page, loaded, at the size the
	// API reports.
	type shown struct {
		Src           string
		NaturalWidth  int
		NaturalHeight int
		Width, Height int // the rendered size: real size, never scaled
	}
	imgs := eval[[]shown](t, ctx, `[...document.querySelectorAll("#renditions img")].map((i) => {
		const r = i.getBoundingClientRect();
		return {Src: i.src, NaturalWidth: i.naturalWidth, NaturalHeight: i.naturalHeight, Width: Math.round(r.width), Height: Math.round(r.height)};
	})`)
	if len(imgs) != len(api.Renditions) {
		t.Fatalf("the page shows %d renditions, the API lists %d", len(imgs), len(api.Renditions))
	}
	for _, want := range api.Renditions {
		i := slices.IndexFunc(imgs, func(s shown) bool { return s.Src == want.URL })
		if i < 0 {
			t.Errorf("rendition %d (%s) is not on the page", want.Size, want.URL)
			continue
		}
		got := imgs[i]
		if got.NaturalWidth != want.Width || got.NaturalHeight != want.Height {
			t.Errorf("rendition %d: natural size %dx%d, the API says %dx%d", want.Size, got.NaturalWidth, got.NaturalHeight, want.Width, want.Height)
		}
		if got.Width != want.Width || got.Height != want.Height {
			t.Errorf("rendition %d: shown at %dx%d, not its real size %dx%d", want.Size, got.Width, got.Height, want.Width, want.Height)
		}
	}

	// The crop was honoured: the 200 px rendition matches the same crop cut
	// from the upright source in Go, and not a crop a tenth of the box away.
	upright := uprightOrientation6(t, src)
	i := slices.IndexFunc(api.Renditions, func(r apiRendition) bool { return r.Size == 200 })
	if i < 0 {
		t.Fatalf("no 200 px rendition in %+v", api.Renditions)
	}
	rend := fetchImage(t, api.Renditions[i].URL)
	same := meanAbsDiff(rend, upright, image.Rect(crop.X, crop.Y, crop.X+crop.Size, crop.Y+crop.Size))
	shift := crop.Size / 10
	ox := crop.X + shift
	if ox+crop.Size > upright.Bounds().Dx() {
		ox = crop.X - shift
	}
	other := meanAbsDiff(rend, upright, image.Rect(ox, crop.Y, ox+crop.Size, crop.Y+crop.Size))
	t.Logf("mean difference per channel: %.2f with the crop, %.2f with a crop %d px away", same, other, shift)
	if same > 8 || other < 2*same {
		t.Errorf("the 200 px rendition does not show the crop %+v: difference %.2f (a shifted crop: %.2f)", crop, same, other)
	}

	// A screenshot of the whole page, with the photo, crop and renditions.
	// Every image decoded first, so that none is painted blank.
	do(t, ctx, "decoding the images", chromedp.Evaluate[chromedp.Void](`Promise.all([...document.images].map((i) => i.decode()))`, chromedp.EvalAwaitPromise))
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // 100: PNG
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	dir, err := os.MkdirTemp("", "photod-browser-")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "screenshot.png")
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
	// PHOTOD_SCREENSHOT=../../../docs/screenshot.jpg refreshes the README's
	// picture: a file name ending in .jpg gets a JPEG (a PNG of the page
	// is over 2 MiB, too much to keep in the repository).
	if p := os.Getenv("PHOTOD_SCREENSHOT"); p != "" {
		if strings.HasSuffix(p, ".jpg") {
			if shot, err = chromedp.Run(ctx, chromedp.FullScreenshot(85)); err != nil {
				t.Fatalf("screenshot: %v", err)
			}
		}
		if err := os.WriteFile(p, shot, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot also written to %s", p)
	}

	// At phone width nothing overflows sideways.
	do(t, ctx, "emulating a phone", chromedp.EmulateViewport(390, 844))
	if w := eval[int](t, ctx, `document.documentElement.scrollWidth`); w > 390 {
		t.Errorf("at 390 px wide the page is %d px wide", w)
	}
	do(t, ctx, "back to the desktop", chromedp.EmulateViewport(1280, 900))

	// Delete: the page empties and the API has no photo.
	do(t, ctx, "deleting", chromedp.Click(chromedp.CSS("#delete")))
	waitFor(t, ctx, "the photo to be gone", `!document.getElementById("current-empty").hidden && document.querySelectorAll("#renditions img").length === 0`)
	if code := getStatus(t, srv.URL+"/v1/users/"+demoUser+"/profile/profile-image"); code != http.StatusNotFound {
		t.Errorf("profile-image after the delete: status %d, want 404", code)
	}
	if notice := eval[string](t, ctx, `document.getElementById("notice").textContent`); !strings.Contains(notice, "deleted") {
		t.Errorf("the page says %q after the delete", notice)
	}

	// Let late messages arrive, then fail on any error the console saw.
	do(t, ctx, "settling", chromedp.Sleep(200*time.Millisecond))
	for _, m := range console.list() {
		t.Errorf("console: %s", m)
	}
}

// profileImageBody is the profile-image GET body, as far as tests read it.
type profileImageBody struct {
	Status     string         `json:"status"`
	VersionID  string         `json:"versionId"`
	URL        string         `json:"url"`
	Width      int            `json:"width"`
	Height     int            `json:"height"`
	MimeType   string         `json:"mimeType"`
	Renditions []apiRendition `json:"renditions"`
	Error      *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// apiRendition is one entry of profile-image's renditions.
type apiRendition struct {
	Size   int    `json:"size"`
	URL    string `json:"url"`
	Width  int    `json:"width"`
	Height int    `json:"height"`
}

func getJSON(t *testing.T, url, token string, v any) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

func getStatus(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func fetchImage(t *testing.T, url string) image.Image {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	img, _, err := image.Decode(resp.Body)
	if err != nil {
		t.Fatalf("decoding %s: %v", url, err)
	}
	return img
}

// uprightOrientation6 decodes a JPEG stored with EXIF orientation 6 and
// turns it upright (90 degrees clockwise), independently of the library:
// upright (x, y) is stored (y, H-1-x), H being the stored height.
func uprightOrientation6(t *testing.T, path string) *image.NRGBA {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	stored, _, err := image.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	sb := stored.Bounds()
	w, h := sb.Dy(), sb.Dx()
	out := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			out.Set(x, y, stored.At(sb.Min.X+y, sb.Min.Y+sb.Dy()-1-x))
		}
	}
	return out
}

// meanAbsDiff compares img with the area r of src scaled to img's size by
// averaging (a box filter), and returns the mean absolute difference per
// RGB channel, 0 to 255.
func meanAbsDiff(img image.Image, src *image.NRGBA, r image.Rectangle) float64 {
	b := img.Bounds()
	fx := float64(r.Dx()) / float64(b.Dx())
	fy := float64(r.Dy()) / float64(b.Dy())
	var total float64
	for y := range b.Dy() {
		y0, y1 := r.Min.Y+int(float64(y)*fy), r.Min.Y+int(math.Ceil(float64(y+1)*fy))
		for x := range b.Dx() {
			x0, x1 := r.Min.X+int(float64(x)*fx), r.Min.X+int(math.Ceil(float64(x+1)*fx))
			var sr, sg, sb, n float64
			for sy := y0; sy < y1; sy++ {
				for sx := x0; sx < x1; sx++ {
					c := src.NRGBAAt(sx, sy)
					sr += float64(c.R)
					sg += float64(c.G)
					sb += float64(c.B)
					n++
				}
			}
			c := color.NRGBAModel.Convert(img.At(b.Min.X+x, b.Min.Y+y)).(color.NRGBA)
			total += math.Abs(float64(c.R)-sr/n) + math.Abs(float64(c.G)-sg/n) + math.Abs(float64(c.B)-sb/n)
		}
	}
	return total / float64(3*b.Dx()*b.Dy())
}

// TestBrowserResumableAndURL drives the page's second and third tabs: the
// three-step upload in chunks, a refused file shown in words, and a photo
// set from a URL (on loopback, which photod is told to allow), then one
// whose download fails.
func TestBrowserResumableAndURL(t *testing.T) {
	ctx := browser(t)
	pngBytes := pngImage(t, 400, 300)
	source := imageSource(t, pngBytes, "/broken.png", []byte("not a PNG at all"))
	srv := startPhotod(t, "-url-import-allow", "127.0.0.0/8")
	console := watchConsole(ctx)

	do(t, ctx, "loading the page", chromedp.Navigate(srv.URL+"/"))
	waitFor(t, ctx, "the page to start", `document.body.dataset.ready === "true"`)

	// Tabs follow the ARIA pattern: arrow keys move between them.
	do(t, ctx, "switching tabs with the keyboard", chromedp.Focus(chromedp.CSS("#tab-crop")), chromedp.KeyEvent(kb.ArrowRight))
	if sel := eval[bool](t, ctx, `document.getElementById("tab-resumable").getAttribute("aria-selected") === "true" &&
		!document.getElementById("panel-resumable").hidden && document.getElementById("panel-crop").hidden &&
		document.activeElement.id === "tab-resumable"`); !sel {
		t.Fatal("ArrowRight on the first tab did not select and focus the second")
	}

	// A photo in 32 KiB chunks.
	src := testdata(t, "exif-orientation-examples/Landscape_0.jpg")
	do(t, ctx, "choosing the photo and chunk size",
		chromedp.SetUploadFiles(chromedp.CSS("#r-file"), []string{src}),
		chromedp.SetValue(chromedp.CSS("#r-chunk"), "32768"),
		chromedp.Click(chromedp.CSS("#r-start")),
	)
	waitFor(t, ctx, "the resumable upload to finish", `document.querySelector('#r-steps [data-step="associate"]').classList.contains("done") &&
		document.querySelectorAll("#renditions img").length > 0`)
	if v := eval[int](t, ctx, `document.getElementById("r-bar").value`); v != 100 {
		t.Errorf("the progress bar ends at %d", v)
	}
	fi, err := os.Stat(src)
	if err != nil {
		t.Fatal(err)
	}
	wantChunks := int((fi.Size() + 32767) / 32768)
	if n := strings.Count(srv.stderr.String(), "method=PATCH"); n != wantChunks {
		t.Errorf("the upload took %d PATCH requests, want %d chunks of 32 KiB", n, wantChunks)
	}
	var api profileImageBody
	getJSON(t, srv.URL+"/v1/users/"+demoUser+"/profile/profile-image", "", &api)
	if got := eval[string](t, ctx, `document.getElementById("f-version").textContent`); got != api.VersionID || api.Status != "ready" {
		t.Errorf("the page shows version %q; the API %q (%s)", got, api.VersionID, api.Status)
	}

	// A file that is not an image is refused when it becomes the photo;
	// the page says so in words.
	fake := filepath.Join(t.TempDir(), "fake.png")
	if err := os.WriteFile(fake, []byte("this is text, not a picture"), 0o644); err != nil {
		t.Fatal(err)
	}
	do(t, ctx, "uploading a fake image",
		chromedp.SetUploadFiles(chromedp.CSS("#r-file"), []string{fake}),
		chromedp.Click(chromedp.CSS("#r-start")),
	)
	waitFor(t, ctx, "the refusal", `document.getElementById("alert").textContent !== ""`)
	alert := eval[string](t, ctx, `document.getElementById("alert").textContent`)
	t.Logf("the page says: %s", alert)
	if !strings.HasPrefix(alert, "Setting the photo failed: ") || !strings.Contains(strings.ToLower(alert), "image") {
		t.Errorf("the refusal reads %q", alert)
	}

	// From a URL: downloading, then ready.
	do(t, ctx, "switching to the URL tab", chromedp.Click(chromedp.CSS("#tab-url")))
	do(t, ctx, "setting from a URL",
		chromedp.SendKeys(chromedp.CSS("#url"), source.URL+"/me.png"),
		chromedp.Click(chromedp.CSS("#url-go")),
	)
	waitFor(t, ctx, "the import to be ready", `document.getElementById("url-status").textContent.startsWith("ready")`)
	getJSON(t, srv.URL+"/v1/users/"+demoUser+"/profile/profile-image", "", &api)
	if got := eval[string](t, ctx, `document.getElementById("f-version").textContent`); got != api.VersionID {
		t.Errorf("after the import the page shows %q, the API %q", got, api.VersionID)
	}
	if n := eval[int](t, ctx, `document.querySelectorAll("#renditions img").length`); n != len(api.Renditions) {
		t.Errorf("the page shows %d renditions, the API lists %d", n, len(api.Renditions))
	}

	// A download that is not an image: failed, with the reason in words,
	// and the previous photo still shown.
	do(t, ctx, "setting from a broken URL",
		chromedp.SetValue(chromedp.CSS("#url"), source.URL+"/broken.png"),
		chromedp.Click(chromedp.CSS("#url-go")),
	)
	waitFor(t, ctx, "the import to fail", `document.getElementById("url-status").textContent === "failed"`)
	alert = eval[string](t, ctx, `document.getElementById("alert").textContent`)
	t.Logf("the page says: %s", alert)
	if !strings.HasPrefix(alert, "The download failed: ") || len(alert) < len("The download failed: ")+10 {
		t.Errorf("the failure reads %q", alert)
	}
	if got := eval[string](t, ctx, `document.getElementById("f-version").textContent`); got != api.VersionID {
		t.Errorf("after the failed import the page shows %q, want the previous %q", got, api.VersionID)
	}

	do(t, ctx, "settling", chromedp.Sleep(200*time.Millisecond))
	for _, m := range console.list() {
		// The refused association answers 400, which the browser logs.
		if strings.Contains(m, "status of 400") && strings.Contains(m, "/association/") {
			continue
		}
		t.Errorf("console: %s", m)
	}
}

// TestBrowserHistory sets two photos through the page, checks that the
// history panel lists the first with its thumbnail, restores it (the page
// and the API then show the first version ID again), and deletes the
// second from the history.
func TestBrowserHistory(t *testing.T) {
	ctx := browser(t)
	srv := startPhotod(t, "-keep-versions", "3")
	console := watchConsole(ctx)

	do(t, ctx, "loading the page", chromedp.Navigate(srv.URL+"/"))
	waitFor(t, ctx, "the page to start", `document.body.dataset.ready === "true"`)
	if hidden := eval[bool](t, ctx, `document.getElementById("history").hidden`); !hidden {
		t.Error("the history panel shows before there is a photo")
	}

	var versions []string
	for _, name := range []string{"Landscape_0.jpg", "Landscape_3.jpg"} {
		before := eval[string](t, ctx, `document.getElementById("f-version").textContent`)
		do(t, ctx, "picking "+name, chromedp.SetUploadFiles(chromedp.CSS("#file"), []string{testdata(t, "exif-orientation-examples/"+name)}))
		waitFor(t, ctx, "the crop editor", `!document.getElementById("editor").hidden && document.getElementById("crop-box").dataset.size > 0`)
		do(t, ctx, "uploading "+name, chromedp.Click(chromedp.CSS("#upload")))
		waitFor(t, ctx, "the new version", fmt.Sprintf(`(() => {
			const v = document.getElementById("f-version").textContent;
			return v !== "" && v !== %q && document.getElementById("notice").textContent.startsWith("Uploaded");
		})()`, before))
		versions = append(versions, eval[string](t, ctx, `document.getElementById("f-version").textContent`))
	}
	first, second := versions[0], versions[1]
	if first == second {
		t.Fatalf("both uploads made version %s", first)
	}

	// The history lists the first, with a loaded thumbnail of its own.
	waitFor(t, ctx, "the first photo in the history", fmt.Sprintf(`(() => {
		const items = [...document.querySelectorAll("#history-list li")];
		const img = items.length === 1 && items[0].querySelector("img");
		return !document.getElementById("history").hidden && items.length === 1 &&
			items[0].dataset.versionId === %q && img && img.complete && img.naturalWidth > 0;
	})()`, first))
	if src := eval[string](t, ctx, `document.querySelector("#history-list img").src`); !strings.Contains(src, "/"+first+"/") {
		t.Errorf("the thumbnail is %s, not a rendition of %s", src, first)
	}

	// Restore the first: the page and the API show it again, and the
	// second moves to the history.
	do(t, ctx, "restoring the first", chromedp.Click(chromedp.CSS(fmt.Sprintf(`#history-list li[data-version-id=%q] button[data-action="restore"]`, first))))
	waitFor(t, ctx, "the first to be current again", fmt.Sprintf(`document.getElementById("f-version").textContent === %q &&
		[...document.querySelectorAll("#history-list li")].map((li) => li.dataset.versionId).join() === %q`, first, second))
	var api profileImageBody
	getJSON(t, srv.URL+"/v1/users/"+demoUser+"/profile/profile-image", srv.Token, &api)
	if api.VersionID != first {
		t.Errorf("after the restore the API shows %s, want %s", api.VersionID, first)
	}
	waitFor(t, ctx, "the renditions to load", `(() => {
		const imgs = [...document.querySelectorAll("#renditions img")];
		return imgs.length > 0 && imgs.every((i) => i.complete && i.naturalWidth > 0);
	})()`)

	// Delete the second from the history: the list empties, and its
	// renditions are gone.
	secondURL := eval[string](t, ctx, `document.querySelector("#history-list img").src`)
	do(t, ctx, "deleting the second", chromedp.Click(chromedp.CSS(fmt.Sprintf(`#history-list li[data-version-id=%q] button[data-action="delete"]`, second))))
	waitFor(t, ctx, "the history to empty", `document.querySelectorAll("#history-list li").length === 0 &&
		!document.getElementById("history-empty").hidden`)
	if code := getStatus(t, secondURL); code != http.StatusNotFound {
		t.Errorf("the deleted version's thumbnail answers %d, want 404", code)
	}
	if alert := eval[string](t, ctx, `document.getElementById("alert").textContent`); alert != "" {
		t.Errorf("the page shows an error: %q", alert)
	}

	do(t, ctx, "settling", chromedp.Sleep(200*time.Millisecond))
	for _, m := range console.list() {
		// The second's renditions that the page asked for while it was
		// current may still be on their way when it is deleted (a slow
		// server: the race detector, a busy machine); their 404 is right.
		if strings.Contains(m, "404") && strings.Contains(m, "/photos/"+demoUser+"/"+second+"/") {
			continue
		}
		t.Errorf("console: %s", m)
	}
}

// TestBrowserHEIC picks an iPhone-style HEIC, which Chromium cannot show:
// the page says it cannot crop it, uploads it whole, and shows the photo
// photod made of it (square, with every rendition loaded).
func TestBrowserHEIC(t *testing.T) {
	ctx := browser(t)
	srv := startPhotod(t)
	console := watchConsole(ctx)

	do(t, ctx, "loading the page", chromedp.Navigate(srv.URL+"/"))
	waitFor(t, ctx, "the page to start", `document.body.dataset.ready === "true"`)
	do(t, ctx, "picking a HEIC", chromedp.SetUploadFiles(chromedp.CSS("#file"), []string{testdata(t, "exif-samples/samplefilehub.heif")}))
	waitFor(t, ctx, "the upload", `document.getElementById("notice").textContent.startsWith("Uploaded") &&
		document.getElementById("f-version").textContent.length === 16`)
	if !eval[bool](t, ctx, `document.getElementById("editor").hidden`) {
		t.Error("the crop editor shows an image the browser cannot display")
	}
	var api profileImageBody
	getJSON(t, srv.URL+"/v1/users/"+demoUser+"/profile/profile-image", srv.Token, &api)
	if got := eval[string](t, ctx, `document.getElementById("f-version").textContent`); api.VersionID != got {
		t.Errorf("the page shows version %s, the API %s", got, api.VersionID)
	}
	if api.Width != 640 || api.Height != 640 {
		t.Errorf("the largest rendition is %dx%d, want the 640x426 HEIC squared to 640x640", api.Width, api.Height)
	}
	waitFor(t, ctx, "the renditions to load", `(() => {
		const imgs = [...document.querySelectorAll("#renditions img")];
		return imgs.length > 0 && imgs.every((i) => i.complete && i.naturalWidth > 0 && i.naturalWidth === i.naturalHeight);
	})()`)
	for _, m := range console.list() {
		// Chromium reports the picked file it could not decode.
		if strings.Contains(m, "blob:") {
			continue
		}
		t.Errorf("console: %s", m)
	}
}
