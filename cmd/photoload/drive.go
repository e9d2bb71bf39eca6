package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"math/rand/v2"
	"mime/multipart"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The well-behaved clients' mix: what share (percent) of operations each
// kind is.
const (
	shareUpload   = 25
	shareRead     = 45
	shareMetadata = 20
	shareDelete   = 10
)

// renditionSizes are photod's default rendition sizes.
var renditionSizes = []int{24, 32, 48, 64, 72, 160, 192, 200, 512, 1024}

// opTimeout bounds one request, so that a stuck server cannot hold
// photoload past its duration for long.
const opTimeout = time.Minute

// driver sends the traffic.
type driver struct {
	cfg    *config
	t      *target
	hc     *http.Client
	rep    *report
	photos []photoFile
	stopAt time.Time
	ctx    context.Context
	log    io.Writer
	logMu  sync.Mutex
}

// photoFile is a generated photo to upload.
type photoFile struct {
	name, contentType string
	data              []byte
}

// drive sends traffic for cfg.duration and returns what it saw.
func drive(ctx context.Context, cfg *config, t *target, log io.Writer) *report {
	users := t.users
	hostileUser := users[len(users)-1]
	if len(users) > 1 {
		users = users[:len(users)-1]
	}
	d := &driver{cfg: cfg, t: t, rep: newReport(), ctx: ctx, log: log}
	d.photos = makePhotos(rand.New(rand.NewPCG(cfg.seed, 1)))
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
		MaxIdleConnsPerHost: cfg.clients + cfg.hostile,
	}
	defer tr.CloseIdleConnections()
	d.hc = &http.Client{Transport: tr, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if !onLoopback(req.URL.String()) || len(via) > 3 {
			return fmt.Errorf("photoload: a redirect to %s refused", req.URL)
		}
		return nil
	}}
	start := time.Now()
	d.stopAt = start.Add(cfg.duration)
	var wg sync.WaitGroup
	for w := range cfg.clients {
		var mine []*userState
		for i := w; i < len(users); i += cfg.clients {
			mine = append(mine, &userState{user: users[i]})
		}
		if len(mine) == 0 {
			continue
		}
		rng := rand.New(rand.NewPCG(cfg.seed, uint64(w)+2))
		wg.Go(func() { d.client(rng, mine) })
	}
	for h := range cfg.hostile {
		rng := rand.New(rand.NewPCG(cfg.seed, uint64(h)+1<<32))
		wg.Go(func() { d.hostile(rng, h, hostileUser) })
	}
	wg.Wait()
	d.rep.Elapsed = time.Since(start)
	return d.rep
}

func (d *driver) running() bool {
	return d.ctx.Err() == nil && time.Now().Before(d.stopAt)
}

// userState is what a client knows of one of its users: each user belongs
// to one client, so it is always right.
type userState struct {
	user
	hasPhoto bool
}

// client is one well-behaved client acting for its users.
func (d *driver) client(rng *rand.Rand, users []*userState) {
	var withPhoto []*userState
	// A client's first operations are one of each kind, in the order
	// upload, rendition read, metadata read, delete, and it finishes them
	// even past the duration: however slow photod is, a run exercises
	// every kind.
	first := []int{0, shareUpload, shareUpload + shareRead, 99}
	for n := 0; d.ctx.Err() == nil && (n < len(first) || d.running()); n++ {
		// Reads of renditions and deletes go to users with a photo;
		// while there is none, uploads take their place.
		pick := rng.IntN(100)
		if n < len(first) {
			pick = first[n]
		}
		u := users[rng.IntN(len(users))]
		if r := pick - shareUpload; r >= 0 && (r < shareRead || r >= shareRead+shareMetadata) {
			withPhoto = withPhoto[:0]
			for _, x := range users {
				if x.hasPhoto {
					withPhoto = append(withPhoto, x)
				}
			}
			if len(withPhoto) == 0 {
				pick = 0
			} else {
				u = withPhoto[rng.IntN(len(withPhoto))]
			}
		}
		var op string
		var err error
		o := done
		start := time.Now()
		switch {
		case pick < shareUpload:
			op, err = d.upload(rng, u)
		case pick < shareUpload+shareRead:
			op, err = "read.rendition", d.readRendition(rng, u)
		case pick < shareUpload+shareRead+shareMetadata:
			op, err = "read.metadata", d.readMetadata(rng, u)
		default:
			op, err = "delete", d.delete(rng, u)
		}
		took := time.Since(start)
		switch {
		case errors.Is(err, errBusy):
			o = busy
		case err != nil && d.ctx.Err() != nil:
			return // interrupted: not the server's fault
		case err != nil:
			o = failed
			d.logf("photoload: %s for %s: %v", op, u.id, err)
		}
		d.rep.add(op, took, o, fmt.Sprint(err))
		if o == busy {
			time.Sleep(time.Duration(50+rng.IntN(100)) * time.Millisecond)
		}
	}
}

func (d *driver) logf(format string, args ...any) {
	if !d.cfg.verbose {
		return
	}
	d.logMu.Lock()
	defer d.logMu.Unlock()
	fmt.Fprintf(d.log, format+"\n", args...)
}

// errBusy marks a busy or rate-limited refusal.
var errBusy = errors.New("busy or rate-limited")

// answer is one response, read whole.
type answer struct {
	status int
	header http.Header
	body   []byte
}

// busyAnswer reports whether a is a retryable refusal.
func (a *answer) busyAnswer() bool {
	return a.status == 503 || a.status == 429 || bytes.Contains(a.body, []byte(`"error":"ratelimited"`))
}

// expect checks a's status: errBusy for a busy refusal, an error for any
// other status than want.
func (a *answer) expect(what string, want ...int) error {
	if a.busyAnswer() {
		return errBusy
	}
	for _, w := range want {
		if a.status == w {
			return nil
		}
	}
	body := a.body
	if len(body) > 200 {
		body = body[:200]
	}
	return fmt.Errorf("%s: HTTP %d, want %v: %s", what, a.status, want, body)
}

// do sends one request to photod and reads the whole answer.
func (d *driver) do(method, path, token string, header map[string]string, body io.Reader) (*answer, error) {
	url := path
	if !strings.HasPrefix(url, "http") {
		url = d.t.base + path
	}
	if !onLoopback(url) {
		return nil, fmt.Errorf("photoload: %s is not on loopback", url)
	}
	ctx, cancel := context.WithTimeout(d.ctx, opTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return nil, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := d.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: reading the answer: %w", method, path, err)
	}
	return &answer{status: resp.StatusCode, header: resp.Header, body: b}, nil
}

// form builds a multipart body: fields, then the photo in part field.
func form(field string, p photoFile, fields map[string]string) (string, []byte) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k, v := range fields {
		mw.WriteField(k, v)
	}
	w, _ := mw.CreateFormFile(field, p.name)
	w.Write(p.data)
	mw.Close()
	return mw.FormDataContentType(), buf.Bytes()
}

// upload sets u's photo through one of the four dialects.
func (d *driver) upload(rng *rand.Rand, u *userState) (string, error) {
	p := d.photos[rng.IntN(len(d.photos))]
	var op string
	var err error
	switch rng.IntN(4) {
	case 0:
		op = "upload.slack"
		ct, body := form("image", p, nil)
		var a *answer
		if a, err = d.do("POST", "/api/users.setPhoto", u.token, map[string]string{"Content-Type": ct}, bytes.NewReader(body)); err == nil {
			if err = a.expect("users.setPhoto", 200); err == nil && !bytes.Contains(a.body, []byte(`"ok":true`)) {
				err = fmt.Errorf("users.setPhoto: %s", a.body)
			}
		}
	case 1:
		op = "upload.chatter"
		ct, body := form("fileUpload", p, nil)
		var a *answer
		if a, err = d.do("POST", "/services/data/v64.0/chatter/users/me/photo", u.token, map[string]string{"Content-Type": ct}, bytes.NewReader(body)); err == nil {
			err = a.expect("Chatter photo POST", 201)
		}
	case 2:
		op = "upload.resumable"
		err = d.resumable(rng, u, p)
	default:
		op = "upload.profile-image"
		ct, body := form("file", p, nil)
		var a *answer
		if a, err = d.do("POST", "/v1/users/"+u.id+"/profile/profile-image", u.token, map[string]string{"Content-Type": ct}, bytes.NewReader(body)); err == nil {
			err = a.expect("profile-image POST", 201)
		}
	}
	if err == nil {
		u.hasPhoto = true
	}
	return op, err
}

// resumable uploads p in the three steps of the resumable upload: declare,
// send in one or two chunks, associate.
func (d *driver) resumable(rng *rand.Rand, u *userState, p photoFile) error {
	const attachments = "/.api2/api/v1/communities/1/attachments"
	decl, _ := json.Marshal(map[string]any{"ContentLength": len(p.data), "ContentType": p.contentType, "Name": p.name})
	a, err := d.do("POST", attachments, u.token, map[string]string{"Content-Type": "application/json"}, bytes.NewReader(decl))
	if err != nil {
		return err
	}
	if err := a.expect("declare", 201); err != nil {
		return err
	}
	loc := a.header.Get("Location")
	key := loc[strings.LastIndex(loc, "/")+1:]
	if key == "" {
		return fmt.Errorf("declare: no Location: %s", a.body)
	}
	cut := len(p.data)
	if rng.IntN(2) == 0 {
		cut = len(p.data) / 2
	}
	for _, c := range [][2]int{{0, cut}, {cut, len(p.data)}} {
		if c[0] == c[1] {
			continue
		}
		a, err := d.do("PATCH", loc, u.token, map[string]string{
			"Content-Type":  p.contentType,
			"Content-Range": fmt.Sprintf("bytes %d-%d/%d", c[0], c[1]-1, len(p.data)),
		}, bytes.NewReader(p.data[c[0]:c[1]]))
		if err != nil {
			return err
		}
		if err := a.expect("PATCH", 200); err != nil {
			return err
		}
	}
	a, err = d.do("POST", attachments+"/"+key+"/association/"+u.id+"?type=ProfilePhoto", u.token, nil, nil)
	if err != nil {
		return err
	}
	return a.expect("associate", 201)
}

// readRendition reads one of u's renditions through the redirect to the
// current version.
func (d *driver) readRendition(rng *rand.Rand, u *userState) error {
	size := renditionSizes[rng.IntN(len(renditionSizes))]
	a, err := d.do("GET", "/photos/"+u.id+"/"+strconv.Itoa(size), "", nil, nil)
	if err != nil {
		return err
	}
	if err := a.expect("rendition", 200); err != nil {
		return err
	}
	if len(a.body) == 0 || !strings.HasPrefix(a.header.Get("Content-Type"), "image/") {
		return fmt.Errorf("rendition %d: %d bytes of %q", size, len(a.body), a.header.Get("Content-Type"))
	}
	return nil
}

// readMetadata reads u's photo through one of the dialects.
func (d *driver) readMetadata(rng *rand.Rand, u *userState) error {
	switch rng.IntN(3) {
	case 0:
		a, err := d.do("GET", "/v1/users/"+u.id+"/profile/profile-image", "", nil, nil)
		if err != nil {
			return err
		}
		if u.hasPhoto {
			return a.expect("profile-image GET", 200)
		}
		return a.expect("profile-image GET", 404)
	case 1:
		a, err := d.do("GET", "/services/data/v64.0/chatter/users/"+u.id+"/photo", "", nil, nil)
		if err != nil {
			return err
		}
		// A user without a photo has the default one: 200 with its URLs
		// and no photoVersionId, as Salesforce answers.
		if err := a.expect("Chatter photo GET", 200); err != nil {
			return err
		}
		if has := bytes.Contains(a.body, []byte(`"photoVersionId"`)); has != u.hasPhoto {
			return fmt.Errorf("the Chatter photo GET (has a photo: %v): %s", u.hasPhoto, a.body)
		}
		return nil
	default:
		a, err := d.do("GET", "/api/users.profile.get", u.token, nil, nil)
		if err != nil {
			return err
		}
		if err := a.expect("users.profile.get", 200); err != nil {
			return err
		}
		custom := bytes.Contains(a.body, []byte(`"is_custom_image":true`))
		if !bytes.Contains(a.body, []byte(`"ok":true`)) || custom != u.hasPhoto {
			return fmt.Errorf("users.profile.get (has a photo: %v): %s", u.hasPhoto, a.body)
		}
		return nil
	}
}

// delete removes u's photo through one of the dialects.
func (d *driver) delete(rng *rand.Rand, u *userState) error {
	var err error
	switch rng.IntN(3) {
	case 0:
		var a *answer
		if a, err = d.do("DELETE", "/v1/users/"+u.id+"/profile/profile-image", u.token, nil, nil); err == nil {
			err = a.expect("profile-image DELETE", 204)
		}
	case 1:
		var a *answer
		if a, err = d.do("DELETE", "/services/data/v64.0/chatter/users/me/photo", u.token, nil, nil); err == nil {
			err = a.expect("Chatter photo DELETE", 204)
		}
	default:
		var a *answer
		if a, err = d.do("POST", "/api/users.deletePhoto", u.token, nil, nil); err == nil {
			if err = a.expect("users.deletePhoto", 200); err == nil && !bytes.Contains(a.body, []byte(`"ok":true`)) {
				err = fmt.Errorf("users.deletePhoto: %s", a.body)
			}
		}
	}
	if err == nil {
		u.hasPhoto = false
	}
	return err
}

// makePhotos generates small JPEG and PNG photos of assorted sizes.
func makePhotos(rng *rand.Rand) []photoFile {
	var out []photoFile
	for i := range 16 {
		w, h := 160+rng.IntN(480), 160+rng.IntN(480)
		img := image.NewNRGBA(image.Rect(0, 0, w, h))
		c0 := color.NRGBA{uint8(rng.IntN(256)), uint8(rng.IntN(256)), uint8(rng.IntN(256)), 255}
		for y := range h {
			for x := range w {
				o := img.PixOffset(x, y)
				img.Pix[o] = c0.R + uint8(x*255/w)
				img.Pix[o+1] = c0.G + uint8(y*255/h)
				img.Pix[o+2] = c0.B + uint8(rng.IntN(32))
				img.Pix[o+3] = 255
			}
		}
		var buf bytes.Buffer
		if i%2 == 0 {
			jpeg.Encode(&buf, img, &jpeg.Options{Quality: 85})
			out = append(out, photoFile{fmt.Sprintf("photo%02d.jpg", i), "image/jpeg", buf.Bytes()})
		} else {
			png.Encode(&buf, img)
			out = append(out, photoFile{fmt.Sprintf("photo%02d.png", i), "image/png", buf.Bytes()})
		}
	}
	return out
}
