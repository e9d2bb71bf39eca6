package httpadapter

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/profilephoto/photo"
)

// slackOKBody and slackErr are the two answers of every Slack method.
const slackOKBody = `{"ok":true}`

func slackErr(code string) string { return `{"ok":false,"error":"` + code + `"}` }

// slackStatus is the HTTP status of every Slack answer.
const slackStatus = http.StatusOK

func TestSlackSetPhoto(t *testing.T) {
	// The Manager crops to cover by default here: Slack must still
	// letterbox, as its document says.
	e := newTestEnv(t, envConfig{Photo: &photo.Options{Fit: photo.Cover, Limits: photo.Limits{MaxBytes: 500 << 10}}})
	img := jpegImage(t, 150, 100)
	mp := func(auth string, parts ...part) (map[string]string, []byte) {
		return multipartReq(t, withAuth(auth, nil), parts...)
	}
	image := func(data []byte) part { return filePart("image", "me.jpg", "image/jpeg", data) }

	type setCase struct {
		name     string
		hdr      map[string]string
		body     []byte
		chunked  bool
		want     string
		user     string      // whose photo must have changed (want ok)
		crop     *photo.Crop // the crop it must have
		unchange string      // whose photo must not have changed
	}
	var cases []setCase
	add := func(c setCase) { cases = append(cases, c) }

	h, b := mp(bearerAlice, image(img))
	add(setCase{name: "bearer header", hdr: h, body: b, want: slackOKBody, user: "alice"})
	h, b = mp("", image(pngImage(t, 90, 90)), fieldPart("token", "alice-token"))
	add(setCase{name: "token field after the image, chunked", hdr: h, body: b, chunked: true, want: slackOKBody, user: "alice"})
	h, b = mp("", fieldPart("token", "bob-token"), image(img), fieldPart("crop_w", "60"), fieldPart("crop_x", "40"), fieldPart("crop_y", "30"))
	add(setCase{name: "crop fields in any order", hdr: h, body: b, want: slackOKBody, user: "bob", crop: &photo.Crop{X: 40, Y: 30, Size: 60}})
	h, b = mp(bearerAlice, filePart("image", "pic.gif", "text/plain", pngImage(t, 70, 70)))
	add(setCase{name: "declared type is not trusted", hdr: h, body: b, want: slackOKBody, user: "alice"})
	h, b = mp(bearerAdmin, image(img), fieldPart("user", "bob"))
	add(setCase{name: "admin sets another user's photo", hdr: h, body: b, want: slackOKBody, user: "bob"})

	h, b = mp("", image(img))
	add(setCase{name: "no token", hdr: h, body: b, want: slackErr("not_authed"), unchange: "alice"})
	h, b = mp("", image(img), fieldPart("token", "nobody-token"))
	add(setCase{name: "bad token field", hdr: h, body: b, want: slackErr("invalid_auth"), unchange: "alice"})
	h, b = mp(bearerBad, image(img), fieldPart("token", "alice-token"))
	add(setCase{name: "bad header wins over a good field", hdr: h, body: b, want: slackErr("invalid_auth"), unchange: "alice"})
	h, b = mp(bearerAlice, image(img), fieldPart("user", "bob"))
	add(setCase{name: "another user's photo", hdr: h, body: b, want: slackErr("access_denied"), unchange: "bob"})
	h, b = mp(bearerAlice, fieldPart("crop_x", "0"))
	add(setCase{name: "no image", hdr: h, body: b, want: slackErr("invalid_arguments"), unchange: "alice"})
	h, b = mp(bearerAlice, image(img), fieldPart("crop_x", "0"), fieldPart("crop_y", "0"))
	add(setCase{name: "partial crop", hdr: h, body: b, want: slackErr("invalid_arguments"), unchange: "alice"})
	h, b = mp(bearerAlice, image(img), fieldPart("crop_x", "0"), fieldPart("crop_y", "0"), fieldPart("crop_w", "big"))
	add(setCase{name: "crop not a number", hdr: h, body: b, want: slackErr("invalid_arguments"), unchange: "alice"})
	h, b = mp(bearerAlice, image(img), fieldPart("crop_x", "100"), fieldPart("crop_y", "0"), fieldPart("crop_w", "60"))
	add(setCase{name: "crop outside the image", hdr: h, body: b, want: slackErr("invalid_arguments"), unchange: "alice"})
	h, b = mp(bearerAlice, image([]byte("hello, I am plain text")))
	add(setCase{name: "not an image", hdr: h, body: b, want: slackErr("bad_image"), unchange: "alice"})
	h, b = mp(bearerAlice, image(testdataFile(t, "wuffs/peacock.progressive.truncated.jpeg")))
	add(setCase{name: "truncated", hdr: h, body: b, want: slackErr("bad_image"), unchange: "alice"})
	h, b = mp(bearerAlice, image(testdataFile(t, "payloadsallthethings/SVG_XSS1.svg")))
	add(setCase{name: "SVG", hdr: h, body: b, want: slackErr("bad_image"), unchange: "alice"})
	h, b = mp(bearerAlice, image(testdataFile(t, "pillow/decompression_bomb.gif")))
	add(setCase{name: "decompression bomb", hdr: h, body: b, want: slackErr("too_large"), unchange: "alice"})
	h, b = mp(bearerAlice, image(testdataFile(t, "wuffs/gifplayer-muybridge.gif")))
	add(setCase{name: "too many frames", hdr: h, body: b, want: slackErr("too_many_frames"), unchange: "alice"})
	h, b = mp(bearerAlice, image(make([]byte, 600<<10)))
	add(setCase{name: "too many bytes", hdr: h, body: b, want: slackErr("too_large"), unchange: "alice"})
	h, b = mp(bearerAlice, image(make([]byte, 2<<20)))
	add(setCase{name: "body over the request limit, chunked", hdr: h, body: b, chunked: true, want: slackErr("too_large"), unchange: "alice"})
	add(setCase{name: "multipart without boundary", hdr: withAuth(bearerAlice, map[string]string{"Content-Type": "multipart/form-data"}), body: b, want: slackErr("invalid_form_data"), unchange: "alice"})
	h, b = mp(bearerAlice, image(img))
	add(setCase{name: "multipart cut short", hdr: h, body: b[:len(b)-200], want: slackErr("invalid_form_data"), unchange: "alice"})

	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var before *photo.Photo
			if c.unchange != "" {
				before = e.getPhoto(t, c.unchange)
			}
			var prior *photo.Photo
			if c.user != "" {
				prior = e.getPhoto(t, c.user)
			}
			httpTest{
				Method: http.MethodPost, URL: "/api/users.setPhoto", ReqHeader: c.hdr, ReqBody: c.body, Chunked: c.chunked,
				Code: slackStatus, ResBody: c.want, ResHeader: map[string]string{"Content-Type": "application/json; charset=utf-8"},
			}.run(t, e)
			if c.unchange != "" {
				after := e.getPhoto(t, c.unchange)
				if (before == nil) != (after == nil) || (before != nil && before.Revision != after.Revision) {
					t.Errorf("a refused call changed %s's photo", c.unchange)
				}
			}
			if c.user != "" {
				p := e.getPhoto(t, c.user)
				if p == nil || (prior != nil && p.Revision == prior.Revision && p.VersionID == prior.VersionID) {
					t.Fatalf("%s's photo did not change", c.user)
				}
				if d := cmp.Diff(c.crop, p.Crop); d != "" {
					t.Errorf("crop (-want +got):\n%s", d)
				}
				if c.crop == nil && p.Fit != photo.Letterbox {
					t.Errorf("fit %v, want letterbox", p.Fit)
				}
			}
		})
	}
}

func TestSlackDeletePhoto(t *testing.T) {
	e := newTestHandler(t, nil)
	form := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	e.setPhoto(t, "alice", jpegImage(t, 64, 64))
	e.setPhoto(t, "bob", jpegImage(t, 64, 64))
	hMP, bMP := multipartReq(t, nil, fieldPart("token", "bob-token"))
	runTests(t, e, []httpTest{
		{Name: "no token", Method: http.MethodPost, URL: "/api/users.deletePhoto", Code: slackStatus, ResBody: slackErr("not_authed")},
		{Name: "bad token", Method: http.MethodPost, URL: "/api/users.deletePhoto", ReqHeader: withAuth(bearerBad, nil), Code: slackStatus, ResBody: slackErr("invalid_auth")},
		{Name: "bad token field", Method: http.MethodPost, URL: "/api/users.deletePhoto", ReqHeader: form, ReqBody: "token=nobody-token", Code: slackStatus, ResBody: slackErr("invalid_auth")},
		{Name: "another user", Method: http.MethodPost, URL: "/api/users.deletePhoto", ReqHeader: form, ReqBody: "token=alice-token&user=bob", Code: slackStatus, ResBody: slackErr("access_denied")},
		{
			Name: "token in an urlencoded body", Method: http.MethodPost, URL: "/api/users.deletePhoto", ReqHeader: form, ReqBody: "token=alice-token",
			Code: slackStatus, ResBody: slackOKBody, Check: wantNoPhoto(e, "alice"),
		},
		{Name: "again: nothing to delete is ok", Method: http.MethodPost, URL: "/api/users.deletePhoto", ReqHeader: withAuth(bearerAlice, nil), Code: slackStatus, ResBody: slackOKBody},
		{Name: "token in a multipart body", Method: http.MethodPost, URL: "/api/users.deletePhoto", ReqHeader: hMP, ReqBody: bMP, Code: slackStatus, ResBody: slackOKBody, Check: wantNoPhoto(e, "bob")},
		{Name: "admin for another user", Method: http.MethodPost, URL: "/api/users.deletePhoto?user=carol", ReqHeader: withAuth(bearerAdmin, nil), Code: slackStatus, ResBody: slackOKBody},
		{Name: "token in the query", Method: http.MethodPost, URL: "/api/users.deletePhoto?token=alice-token", Code: slackStatus, ResBody: slackOKBody},
		{Name: "GET is not allowed", URL: "/api/users.deletePhoto", ReqHeader: withAuth(bearerAlice, nil), Code: slackStatus, ResBody: slackErr("invalid_arguments")},
	})
}

func wantNoPhoto(e *testEnv, user string) func(*testing.T, *http.Response, []byte) {
	return func(t *testing.T, _ *http.Response, _ []byte) {
		t.Helper()
		if p := e.getPhoto(t, user); p != nil {
			t.Errorf("%s still has a photo", user)
		}
	}
}

func TestSlackProfileGet(t *testing.T) {
	e := newTestEnv(t, envConfig{Prefix: "/slack"})
	p := e.setPhoto(t, "alice", jpegImage(t, 300, 200))
	wantProfile := func(user string, p *photo.Photo) string {
		if p == nil {
			prof := map[string]any{"is_custom_image": false}
			for _, s := range []int{24, 32, 48, 72, 192, 512, 1024} {
				prof["image_"+strconv.Itoa(s)] = e.URL + defaultPath(user, strconv.Itoa(s))
			}
			b, _ := json.Marshal(map[string]any{"ok": true, "profile": prof})
			return string(b)
		}
		if p.Placeholder == "" {
			t.Fatal("the photo has no placeholder")
		}
		prof := map[string]any{"is_custom_image": true, "avatar_hash": p.VersionID,
			"image_original": e.URL + versionedPath(user, p.VersionID, "original"), "image_placeholder": p.Placeholder}
		for _, s := range []int{24, 32, 48, 72, 192, 512, 1024} {
			prof["image_"+strconv.Itoa(s)] = e.URL + versionedPath(user, p.VersionID, strconv.Itoa(s))
		}
		b, _ := json.Marshal(map[string]any{"ok": true, "profile": prof})
		return string(b)
	}
	form := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	runTests(t, e, []httpTest{
		{Name: "GET with bearer", URL: "/api/users.profile.get", ReqHeader: withAuth(bearerAlice, nil), Code: slackStatus, ResBody: wantProfile("alice", p)},
		{Name: "GET with token in the query", URL: "/api/users.profile.get?token=alice-token", Code: slackStatus, ResBody: wantProfile("alice", p)},
		{Name: "POST with token field", Method: http.MethodPost, URL: "/api/users.profile.get", ReqHeader: form, ReqBody: "token=alice-token", Code: slackStatus, ResBody: wantProfile("alice", p)},
		{Name: "another user's profile", URL: "/api/users.profile.get?user=alice", ReqHeader: withAuth(bearerBob, nil), Code: slackStatus, ResBody: wantProfile("alice", p)},
		{Name: "a user without photo", URL: "/api/users.profile.get", ReqHeader: withAuth(bearerBob, nil), Code: slackStatus, ResBody: wantProfile("bob", nil)},
		{Name: "a user ID with a slash", URL: "/api/users.profile.get?user=" + url.QueryEscape("a/b"), ReqHeader: withAuth(bearerBob, nil), Code: slackStatus, ResBody: wantProfile("a/b", nil)},
		{Name: "a user ID too long", URL: "/api/users.profile.get?user=" + strings.Repeat("x", 300), ReqHeader: withAuth(bearerBob, nil), Code: slackStatus, ResBody: slackErr("invalid_arguments")},
		{Name: "no token", URL: "/api/users.profile.get", Code: slackStatus, ResBody: slackErr("not_authed")},
		{Name: "bad token", URL: "/api/users.profile.get?token=nobody-token", Code: slackStatus, ResBody: slackErr("invalid_auth")},
	})
	// Every URL in the profile serves an image of its size.
	_, body := e.do(t, http.MethodGet, "/api/users.profile.get", withAuth(bearerAlice, nil), nil, false)
	res := decodeJSON[struct {
		Profile map[string]any `json:"profile"`
	}](t, body)
	for _, s := range []int{24, 32, 48, 72, 192, 512, 1024} {
		r, _ := rendition(p, s)
		img, _ := e.fetchImage(t, res.Profile["image_"+strconv.Itoa(s)].(string))
		if b := img.Bounds(); b.Dx() != r.Width || b.Dy() != r.Height || r.Width != min(s, 300) {
			t.Errorf("image_%d is %dx%d, want %dx%d", s, b.Dx(), b.Dy(), r.Width, r.Height)
		}
	}
	img, _ := e.fetchImage(t, res.Profile["image_original"].(string))
	if b := img.Bounds(); b.Dx() != 300 || b.Dy() != 200 {
		t.Errorf("image_original is %dx%d, want 300x200", b.Dx(), b.Dy())
	}
}

func TestSlackStorageFailure(t *testing.T) {
	e := newTestHandler(t, nil)
	e.setPhoto(t, "alice", jpegImage(t, 64, 64))
	hdr, body := multipartReq(t, withAuth(bearerAlice, nil), filePart("image", "x.jpg", "image/jpeg", jpegImage(t, 100, 100)))
	e.Store.failPut.Store(true)
	runTests(t, e, []httpTest{
		{Name: "setPhoto", Method: http.MethodPost, URL: "/api/users.setPhoto", ReqHeader: hdr, ReqBody: body, Code: slackStatus, ResBody: slackErr("internal_error")},
		{Name: "deletePhoto", Method: http.MethodPost, URL: "/api/users.deletePhoto", ReqHeader: withAuth(bearerAlice, nil), Code: slackStatus, ResBody: slackErr("internal_error")},
	})
	e.Store.failPut.Store(false)
	e.Store.failOpen.Store(true)
	httpTest{Name: "profile.get", URL: "/api/users.profile.get", ReqHeader: withAuth(bearerAlice, nil), Code: slackStatus, ResBody: slackErr("internal_error")}.run(t, e)
}
