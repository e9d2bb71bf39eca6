package browsertest

import (
	"bytes"
	"context"
	"encoding/base64"
	"image"
	"image/color"
	"mime/multipart"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/chromedp"
)

// TestBrowserDefaultAndPlaceholder checks that the page shows a new user's
// default photo, then, once a photo is set, draws each rendition's
// placeholder while the rendition itself is held back (the browser's
// requests for versioned renditions are paused), and the real renditions
// once they are let through.
func TestBrowserDefaultAndPlaceholder(t *testing.T) {
	ctx := browser(t)
	srv := startPhotod(t)
	console := watchConsole(ctx)

	do(t, ctx, "loading the page", chromedp.Navigate(srv.URL+"/"))
	waitFor(t, ctx, "the page to start", `document.body.dataset.ready === "true"`)

	// A new user: the default photo, loaded, at Slack's 192 px.
	waitFor(t, ctx, "the default photo", `!document.getElementById("default-photo").hidden &&
		document.getElementById("default-img").complete && document.getElementById("default-img").naturalWidth === 192`)
	src := eval[string](t, ctx, `document.getElementById("default-img").src`)
	if want := srv.URL + "/photos/" + demoUser + "/default/192"; src != want {
		t.Fatalf("the default photo is %q, want %q", src, want)
	}
	mine, other := fetchImage(t, src), fetchImage(t, srv.URL+"/photos/someone-else/default/192")
	if f := differingPixels(mine, other); f < 0.15 {
		t.Errorf("two users' defaults differ in %.0f%% of their pixels", 100*f)
	}

	// Hold back the browser's requests for versioned renditions
	// (/photos/demo/<16-character version>/<size>).
	var mu sync.Mutex
	var held []fetch.RequestID
	ectx, stop := context.WithCancel(ctx)
	defer stop()
	paused := chromedp.Events(ectx, fetch.RequestPaused)
	go func() {
		for ev, err := range paused {
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, ev.RequestID)
			mu.Unlock()
		}
	}()
	if _, err := chromedp.Call(ctx, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{
		{URLPattern: "*/photos/" + demoUser + "/????????????????/*"},
	}}); err != nil {
		t.Fatalf("Fetch.enable: %v", err)
	}

	// Set a photo through the API, then have the page show it.
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, err := mw.CreateFormFile("file", "me.png")
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(pngImage(t, 400, 300))
	mw.Close()
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/users/"+demoUser+"/profile/profile-image", &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+srv.Token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("setting the photo: %s", res.Status)
	}
	do(t, ctx, "refreshing", chromedp.Click(chromedp.CSS("#refresh")))
	waitFor(t, ctx, "the placeholders", `(() => {
		const imgs = Array.from(document.querySelectorAll("#renditions img"));
		return imgs.length > 0 && imgs.every((im) => im.dataset.placeholder === "drawn");
	})()`)
	type state struct {
		Loaded, Drawn int
		Background    string
		DefaultShown  bool
	}
	st := eval[state](t, ctx, `(() => {
		const imgs = Array.from(document.querySelectorAll("#renditions img"));
		return {
			Loaded: imgs.filter((im) => im.complete && im.naturalWidth > 0).length,
			Drawn: imgs.filter((im) => im.style.backgroundImage.startsWith('url("data:image/png;base64,')).length,
			Background: imgs[0].style.backgroundImage,
			DefaultShown: !document.getElementById("default-photo").hidden,
		};
	})()`)
	mu.Lock()
	nHeld := len(held)
	mu.Unlock()
	if st.Loaded != 0 || st.Drawn == 0 || nHeld == 0 || st.DefaultShown {
		t.Fatalf("while renditions are held (%d requests): %d loaded, %d placeholders drawn, default shown %v", nHeld, st.Loaded, st.Drawn, st.DefaultShown)
	}
	// The placeholder looks like the photo: its average colour is the
	// gradient's (about 127, 127, 128) with the white letterbox bars (a
	// quarter of the square): about 159, 159, 160.
	data := strings.TrimSuffix(strings.TrimPrefix(st.Background, `url("data:image/png;base64,`), `")`)
	raw, err := base64.StdEncoding.DecodeString(data)
	if err != nil {
		t.Fatalf("the placeholder's data URL: %v", err)
	}
	ph, _, err := image.Decode(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("the placeholder's PNG: %v", err)
	}
	if c := averageColour(ph); c.R < 140 || c.R > 180 || c.G < 140 || c.G > 180 || c.B < 140 || c.B > 180 {
		t.Errorf("the placeholder's average colour is %v, want about (159, 159, 160)", c)
	}

	// Let the renditions through: they load and replace the placeholders.
	if _, err := chromedp.Call(ctx, fetch.Disable, struct{}{}); err != nil {
		t.Fatalf("Fetch.disable: %v", err)
	}
	mu.Lock()
	for _, id := range held {
		// Disabling the domain may already have released some.
		chromedp.Call(ctx, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: id})
	}
	mu.Unlock()
	waitFor(t, ctx, "the renditions", `(() => {
		const imgs = Array.from(document.querySelectorAll("#renditions img"));
		return imgs.length > 0 && imgs.every((im) => im.complete && im.naturalWidth > 0 &&
			im.dataset.placeholder === "cleared" && im.style.backgroundImage === "");
	})()`)
	// Deleting the photo brings the default back.
	do(t, ctx, "deleting the photo", chromedp.Click(chromedp.CSS("#delete")))
	waitFor(t, ctx, "the default photo again", `document.querySelectorAll("#renditions img").length === 0 &&
		!document.getElementById("default-photo").hidden && document.getElementById("default-img").complete &&
		document.getElementById("default-img").naturalWidth === 192`)
	if errs := console.list(); len(errs) > 0 {
		t.Errorf("the console has errors: %q", errs)
	}
}

// differingPixels returns the fraction of pixels of a whose colour differs
// from b's by more than a little.
func differingPixels(a, b image.Image) float64 {
	r := a.Bounds()
	n := 0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			ca := color.NRGBAModel.Convert(a.At(x, y)).(color.NRGBA)
			cb := color.NRGBAModel.Convert(b.At(x, y)).(color.NRGBA)
			d := 0
			for _, p := range [][2]uint8{{ca.R, cb.R}, {ca.G, cb.G}, {ca.B, cb.B}} {
				d += max(int(p[0])-int(p[1]), int(p[1])-int(p[0]))
			}
			if d > 30 {
				n++
			}
		}
	}
	return float64(n) / float64(r.Dx()*r.Dy())
}

// averageColour returns the mean colour of img.
func averageColour(img image.Image) color.NRGBA {
	r := img.Bounds()
	var s [3]int
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			c := color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)
			s[0] += int(c.R)
			s[1] += int(c.G)
			s[2] += int(c.B)
		}
	}
	n := r.Dx() * r.Dy()
	return color.NRGBA{uint8(s[0] / n), uint8(s[1] / n), uint8(s[2] / n), 255}
}
