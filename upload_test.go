package photo_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"github.com/profilephoto/photo"
	"github.com/profilephoto/photo/storage"
	"github.com/profilephoto/photo/storage/driver"
	"github.com/profilephoto/photo/storage/memstore"
)

// TestUploads runs the resumable-upload tests on the memory backend; the
// backend tests run testUploads on the others.
func TestUploads(t *testing.T) {
	testUploads(t, memstore.New())
}

// errConnReset stands for a connection that breaks mid-chunk.
var errConnReset = errors.New("connection reset by peer")

// uploadClock is a settable clock for photo.Options.Now.
type uploadClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *uploadClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *uploadClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// uploadPayload returns a noisy w by h JPEG of some kilobytes, different
// for every seed.
func uploadPayload(t testing.TB, w, h int, seed uint64) []byte {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 7))
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = uint8(rng.IntN(256))
	}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Pix[img.PixOffset(x, y)+3] = 255
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// uploadObjects lists the stored objects of upload key.
func uploadObjects(t testing.TB, st *storage.Bucket, key string) []string {
	t.Helper()
	return allKeys(t, st, "uploads/"+key+"/")
}

// testUploads is the resumable-upload suite, run on any backend: every
// Manager it makes shares st, and every upload and user is its own, so st
// may hold other data.
func testUploads(t *testing.T, d driver.Bucket) {
	st := storage.NewBucket(d)
	clock := &uploadClock{t: time.Now().UTC()}
	m, err := photo.New(st, &photo.Options{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	payload := uploadPayload(t, 96, 80, 1)
	L := int64(len(payload))
	// The reference photo: the version a complete, intact upload of
	// payload must give, since version IDs derive from the bytes.
	ref, err := m.Set(ctx, "upload-reference-"+fmt.Sprint(time.Now().UnixNano()), bytes.NewReader(payload), nil)
	if err != nil {
		t.Fatalf("Set: %v", err)
	}

	create := func(t *testing.T, length int64) *photo.Upload {
		t.Helper()
		u, err := m.CreateUpload(ctx, "uploader", "image/jpeg", length, &photo.UploadOptions{Name: "me.jpg", TTL: time.Hour})
		if err != nil {
			t.Fatalf("CreateUpload: %v", err)
		}
		return u
	}
	// finish sends what is missing, sets a photo from the upload and
	// checks that it is exactly payload, and that the upload is gone.
	finish := func(t *testing.T, key string) {
		t.Helper()
		u, err := m.Upload(ctx, key)
		if err != nil {
			t.Fatalf("Upload: %v", err)
		}
		if u.Received != u.Length {
			if _, err := m.AppendUpload(ctx, key, photo.Chunk{Offset: u.Received, Total: L, Size: L - u.Received, Body: bytes.NewReader(payload[u.Received:])}); err != nil {
				t.Fatalf("AppendUpload of the rest: %v", err)
			}
		}
		user := "upload-user-" + key
		p, err := m.SetFromUpload(ctx, user, key, nil)
		if err != nil {
			t.Fatalf("SetFromUpload: %v", err)
		}
		if p.VersionID != ref.VersionID || p.Bytes != L {
			t.Errorf("photo from the upload: version %s of %d bytes, want %s of %d: the stored bytes differ from those sent",
				p.VersionID, p.Bytes, ref.VersionID, L)
		}
		if _, err := m.Upload(ctx, key); !errors.Is(err, photo.ErrNotFound) {
			t.Errorf("Upload after SetFromUpload: %v, want ErrNotFound", err)
		}
		if objs := uploadObjects(t, st, key); len(objs) != 0 {
			t.Errorf("objects left after SetFromUpload: %q", objs)
		}
		if err := m.Delete(ctx, user, nil); err != nil {
			t.Errorf("Delete: %v", err)
		}
	}

	t.Run("create", func(t *testing.T) {
		max := m.Options().Limits.MaxBytes
		tests := []struct {
			name, owner, fileName, ct string
			length                    int64
			wantType                  string
			wantErr                   error
		}{
			{"jpeg", "u", "a.jpg", "image/jpeg", 100, "image/jpeg", nil},
			{"image/jpg is jpeg", "u", "a.jpg", "image/jpg", 100, "image/jpeg", nil},
			{"case and parameters", "u", "a.png", "Image/PNG; foo=bar", 100, "image/png", nil},
			{"gif", "u", "a.gif", "image/gif", 1, "image/gif", nil},
			{"webp at the limit", "u", "a.webp", "image/webp", max, "image/webp", nil},
			{"empty name", "u", "", "image/png", 5, "image/png", nil},
			{"one byte too many", "u", "a.jpg", "image/jpeg", max + 1, "", photo.CodeFileTooLarge},
			{"empty", "u", "a.jpg", "image/jpeg", 0, "", photo.CodeNotImage},
			{"negative", "u", "a.jpg", "image/jpeg", -5, "", photo.CodeNotImage},
			{"svg", "u", "a.svg", "image/svg+xml", 100, "", photo.CodeUnsupportedFormat},
			{"text", "u", "a.txt", "text/plain", 100, "", photo.CodeUnsupportedFormat},
			{"no type", "u", "a", "", 100, "", photo.CodeUnsupportedFormat},
			{"no owner", "", "a.jpg", "image/jpeg", 100, "", photo.CodeBadUserID},
			{"name too long", "u", strings.Repeat("n", 256), "image/jpeg", 100, "", photo.ErrInvalidInput},
			{"name with a control character", "u", "a\nb.jpg", "image/jpeg", 100, "", photo.ErrInvalidInput},
			{"name not UTF-8", "u", "a\xffb.jpg", "image/jpeg", 100, "", photo.ErrInvalidInput},
		}
		seen := map[string]bool{}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				u, err := m.CreateUpload(ctx, tc.owner, tc.ct, tc.length, &photo.UploadOptions{Name: tc.fileName, TTL: time.Hour})
				if tc.wantErr != nil {
					if !errors.Is(err, tc.wantErr) {
						t.Fatalf("CreateUpload: %v, want %v", err, tc.wantErr)
					}
					return
				}
				if err != nil {
					t.Fatalf("CreateUpload: %v", err)
				}
				defer m.DeleteUpload(ctx, u.Key)
				if len(u.Key) != 10 || strings.Trim(u.Key, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789") != "" {
					t.Errorf("key %q is not 10 characters of [A-Za-z0-9]", u.Key)
				}
				if seen[u.Key] {
					t.Errorf("key %q given twice", u.Key)
				}
				seen[u.Key] = true
				want := photo.Upload{Key: u.Key, Owner: tc.owner, Name: tc.fileName, ContentType: tc.wantType,
					Length: tc.length, Created: clock.Now(), Expires: clock.Now().Add(time.Hour)}
				if !u.Created.Equal(want.Created) || !u.Expires.Equal(want.Expires) {
					t.Errorf("created %v expires %v, want %v and %v", u.Created, u.Expires, want.Created, want.Expires)
				}
				u.Created, u.Expires, want.Created, want.Expires = time.Time{}, time.Time{}, time.Time{}, time.Time{}
				if *u != want {
					t.Errorf("CreateUpload = %+v, want %+v", *u, want)
				}
				got, err := m.Upload(ctx, u.Key)
				if err != nil {
					t.Fatalf("Upload: %v", err)
				}
				if got.Key != u.Key || got.Received != 0 || got.Received == got.Length {
					t.Errorf("Upload = %+v", got)
				}
			})
		}
	})

	t.Run("default TTL", func(t *testing.T) {
		u, err := m.CreateUpload(ctx, "u", "image/jpeg", 10, &photo.UploadOptions{Name: "a.jpg"})
		if err != nil {
			t.Fatal(err)
		}
		defer m.DeleteUpload(ctx, u.Key)
		if d := u.Expires.Sub(u.Created); d != (24 * time.Hour) {
			t.Errorf("TTL %v, want %v", d, (24 * time.Hour))
		}
	})

	// A chunk to send: payload[From:To], declared at Offset (From unless
	// set) with total Total (L unless set), N bytes (To-From unless set),
	// read through Wrap if set.
	type chunk struct {
		From, To int64
		Offset   *int64
		Total    *int64
		N        *int64
		Flip     int64 // when non-zero, the byte at this payload index is changed
		Wrap     func(io.Reader) io.Reader

		WantErr      error // a sentinel the error must match
		WantReceived int64 // after the chunk, error or not
	}
	i64 := func(v int64) *int64 { return &v }
	half := L / 2
	tests := []struct {
		name   string
		chunks []chunk
		// objects is how many chunk objects the upload must hold at the
		// end, or -1 to skip.
		objects int
	}{
		{"whole file in one chunk", []chunk{{From: 0, To: L, WantReceived: L}}, 1},
		{"two chunks", []chunk{{From: 0, To: half, WantReceived: half}, {From: half, To: L, WantReceived: L}}, 2},
		{"total not given", []chunk{{From: 0, To: 100, Total: i64(0), WantReceived: 100}, {From: 100, To: L, Total: i64(0), WantReceived: L}}, 2},
		{"one byte at a time at the start", []chunk{{From: 0, To: 1, WantReceived: 1}, {From: 1, To: 2, WantReceived: 2}, {From: 2, To: 3, WantReceived: 3}}, 3},
		{"gap", []chunk{{From: 0, To: 100, WantReceived: 100}, {From: 200, To: 300, WantErr: photo.CodeUploadConflict, WantReceived: 100}}, 1},
		{"gap at the start", []chunk{{From: 1, To: 100, WantErr: photo.CodeUploadConflict, WantReceived: 0}}, 0},
		{"repeated identical chunk is harmless", []chunk{{From: 0, To: 100, WantReceived: 100}, {From: 0, To: 100, WantReceived: 100}}, 1},
		{"repeat of a part is harmless", []chunk{{From: 0, To: 100, WantReceived: 100}, {From: 10, To: 60, WantReceived: 100}}, 1},
		{"overlap that agrees appends the tail", []chunk{{From: 0, To: 100, WantReceived: 100}, {From: 50, To: 200, WantReceived: 200}}, 2},
		{"overlap across chunks", []chunk{{From: 0, To: 100, WantReceived: 100}, {From: 100, To: 200, WantReceived: 200}, {From: 50, To: 300, WantReceived: 300}}, 3},
		{"overlap that disagrees", []chunk{{From: 0, To: 100, WantReceived: 100}, {From: 50, To: 150, Flip: 60, WantErr: photo.CodeUploadConflict, WantReceived: 100}}, 1},
		{"overlap that disagrees at its last byte", []chunk{{From: 0, To: 100, WantReceived: 100}, {From: 0, To: 150, Flip: 99, WantErr: photo.CodeUploadConflict, WantReceived: 100}}, 1},
		{"repeat that disagrees", []chunk{{From: 0, To: 100, WantReceived: 100}, {From: 0, To: 100, Flip: 3, WantErr: photo.CodeUploadConflict, WantReceived: 100}}, 1},
		{"beyond the declared length", []chunk{{From: 0, To: L, N: i64(L + 1), Wrap: func(r io.Reader) io.Reader { return io.MultiReader(r, strings.NewReader("x")) }, WantErr: photo.CodeBadRange}}, 0},
		{"beyond the declared length from the middle", []chunk{{From: 0, To: half, WantReceived: half}, {From: half, To: L, N: i64(L - half + 10), WantErr: photo.CodeBadRange, WantReceived: half}}, 1},
		{"total larger than declared", []chunk{{From: 0, To: 100, Total: i64(L + 1), WantErr: photo.CodeBadRange}}, 0},
		{"total smaller than declared", []chunk{{From: 0, To: 100, Total: i64(100), WantErr: photo.CodeBadRange}}, 0},
		{"negative offset", []chunk{{From: 0, To: 100, Offset: i64(-1), WantErr: photo.CodeBadRange}}, 0},
		{"body shorter than declared", []chunk{{From: 0, To: 100, N: i64(200), WantErr: io.ErrUnexpectedEOF}}, 0},
		{"body shorter than declared after an overlap", []chunk{{From: 0, To: 100, WantReceived: 100}, {From: 50, To: 150, N: i64(200), WantErr: io.ErrUnexpectedEOF, WantReceived: 100}}, 1},
		{"body shorter than the overlap", []chunk{{From: 0, To: 100, WantReceived: 100}, {From: 0, To: 50, N: i64(100), WantErr: io.ErrUnexpectedEOF, WantReceived: 100}}, 1},
		{"body that fails", []chunk{{From: 0, To: 100, Wrap: func(r io.Reader) io.Reader {
			return io.MultiReader(io.LimitReader(r, 40), iotest.ErrReader(errConnReset))
		}, WantErr: errConnReset}}, 0},
		{"resume after a broken chunk", []chunk{
			{From: 0, To: 100, WantReceived: 100},
			{From: 100, To: L, Wrap: func(r io.Reader) io.Reader { return io.LimitReader(r, 300) }, WantErr: io.ErrUnexpectedEOF, WantReceived: 100},
			{From: 100, To: L, WantReceived: L},
		}, 2},
		{"nil reader", []chunk{{From: 0, To: 10, Wrap: func(io.Reader) io.Reader { return nil }, WantErr: io.ErrUnexpectedEOF}}, 0},
		{"empty chunk tells the state", []chunk{{From: 0, To: 100, WantReceived: 100}, {From: 0, To: 0, Offset: i64(0), WantReceived: 100}}, 1},
		{"empty chunk with a wrong total", []chunk{{From: 0, To: 0, Total: i64(5), WantErr: photo.CodeBadRange}}, 0},
	}
	for _, tc := range tests {
		t.Run("append/"+tc.name, func(t *testing.T) {
			u := create(t, L)
			for i, c := range tc.chunks {
				data := bytes.Clone(payload[c.From:c.To])
				if c.Flip != 0 {
					data[c.Flip-c.From] ^= 0x55
				}
				off, total, n := c.From, L, c.To-c.From
				if c.Offset != nil {
					off = *c.Offset
				}
				if c.Total != nil {
					total = *c.Total
				}
				if c.N != nil {
					n = *c.N
				}
				var r io.Reader = bytes.NewReader(data)
				if c.Wrap != nil {
					r = c.Wrap(r)
				}
				got, err := m.AppendUpload(ctx, u.Key, photo.Chunk{Offset: off, Total: total, Size: n, Body: r})
				switch {
				case c.WantErr != nil:
					if !errors.Is(err, c.WantErr) {
						t.Fatalf("chunk %d: AppendUpload: %v, want %v", i, err, c.WantErr)
					}
					var pe *photo.Error
					if errors.Is(c.WantErr, photo.CodeBadRange) || errors.Is(c.WantErr, photo.CodeUploadConflict) {
						// The refusal comes with the upload as it stands.
						if !errors.As(err, &pe) || pe.SafeMessage() == "" {
							t.Errorf("chunk %d: %v is not an *Error with a message", i, err)
						}
						if got == nil || got.Key != u.Key || got.Received != c.WantReceived || got.Length != L {
							t.Errorf("chunk %d: AppendUpload = %+v, want key %s, received %d of %d", i, got, u.Key, c.WantReceived, L)
						}
					}
				case err != nil:
					t.Fatalf("chunk %d: AppendUpload: %v", i, err)
				default:
					if got.Received != c.WantReceived || got.Length != L || (got.Received == got.Length) != (c.WantReceived == L) {
						t.Errorf("chunk %d: AppendUpload = %+v, want %d of %d received", i, got, c.WantReceived, L)
					}
				}
				cur, err := m.Upload(ctx, u.Key)
				if err != nil {
					t.Fatalf("Upload: %v", err)
				}
				if cur.Received != c.WantReceived {
					t.Errorf("chunk %d: received %d, want %d", i, cur.Received, c.WantReceived)
				}
			}
			if tc.objects >= 0 {
				var chunks []string
				for _, k := range uploadObjects(t, st, u.Key) {
					if strings.Contains(k, "/c/") {
						chunks = append(chunks, k)
					}
				}
				if len(chunks) != tc.objects {
					t.Errorf("chunk objects %q, want %d", chunks, tc.objects)
				}
			}
			finish(t, u.Key)
		})
	}

	t.Run("unknown keys", func(t *testing.T) {
		for _, key := range []string{"", "short", "AbCdEfGhIj", "../../x/../", "abcdefghi/", "abcdefghij/meta.json", "ÄbcdefghiJ"} {
			if _, err := m.Upload(ctx, key); !errors.Is(err, photo.ErrNotFound) {
				t.Errorf("Upload(%q): %v, want ErrNotFound", key, err)
			}
			if _, err := m.AppendUpload(ctx, key, photo.Chunk{Offset: 0, Total: 3, Size: 3, Body: strings.NewReader("abc")}); !errors.Is(err, photo.ErrNotFound) {
				t.Errorf("AppendUpload(%q): %v, want ErrNotFound", key, err)
			}
			if _, err := m.SetFromUpload(ctx, "u", key, nil); !errors.Is(err, photo.ErrNotFound) {
				t.Errorf("SetFromUpload(%q): %v, want ErrNotFound", key, err)
			}
			if err := m.DeleteUpload(ctx, key); !errors.Is(err, photo.ErrNotFound) {
				t.Errorf("DeleteUpload(%q): %v, want ErrNotFound", key, err)
			}
		}
	})

	t.Run("set from an incomplete upload", func(t *testing.T) {
		u := create(t, L)
		if _, err := m.AppendUpload(ctx, u.Key, photo.Chunk{Offset: 0, Total: L, Size: L - 1, Body: bytes.NewReader(payload[:L-1])}); err != nil {
			t.Fatal(err)
		}
		user := "upload-incomplete-" + u.Key
		if _, err := m.SetFromUpload(ctx, user, u.Key, nil); !errors.Is(err, photo.CodeUploadIncomplete) {
			t.Fatalf("SetFromUpload: %v, want CodeUploadIncomplete", err)
		}
		if _, err := m.Get(ctx, user); !errors.Is(err, photo.ErrNotFound) {
			t.Errorf("Get after a refused SetFromUpload: %v, want ErrNotFound", err)
		}
		finish(t, u.Key)
	})

	t.Run("set from an upload that is not an image", func(t *testing.T) {
		text := []byte("<svg xmlns='http://www.w3.org/2000/svg'></svg>")
		u, err := m.CreateUpload(ctx, "uploader", "image/png", int64(len(text)), &photo.UploadOptions{Name: "a.png", TTL: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := m.AppendUpload(ctx, u.Key, photo.Chunk{Offset: 0, Size: int64(len(text)), Body: bytes.NewReader(text)}); err != nil {
			t.Fatal(err)
		}
		if _, err := m.SetFromUpload(ctx, "upload-svg-"+u.Key, u.Key, nil); !errors.Is(err, photo.ErrInvalidInput) {
			t.Fatalf("SetFromUpload: %v, want an input error", err)
		}
		// The upload stays: the client may want to know what it sent.
		if _, err := m.Upload(ctx, u.Key); err != nil {
			t.Errorf("Upload after a refused image: %v", err)
		}
		if err := m.DeleteUpload(ctx, u.Key); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("set from an upload replaces the photo", func(t *testing.T) {
		user := "upload-replace-" + fmt.Sprint(time.Now().UnixNano())
		other := uploadPayload(t, 40, 40, 2)
		if _, err := m.Set(ctx, user, bytes.NewReader(other), nil); err != nil {
			t.Fatal(err)
		}
		u := create(t, L)
		if _, err := m.AppendUpload(ctx, u.Key, photo.Chunk{Offset: 0, Total: L, Size: L, Body: bytes.NewReader(payload)}); err != nil {
			t.Fatal(err)
		}
		p, err := m.SetFromUpload(ctx, user, u.Key, &photo.SetOptions{Crop: &photo.Crop{X: 8, Y: 0, Size: 80}})
		if err != nil {
			t.Fatal(err)
		}
		if p.Crop == nil || p.Crop.Size != 80 || p.Width != 96 {
			t.Errorf("photo %+v, want the upload cropped", p)
		}
		got, err := m.Get(ctx, user)
		if err != nil || got.VersionID != p.VersionID {
			t.Errorf("Get = %v, %v; want version %s", got, err, p.VersionID)
		}
		m.Delete(ctx, user, nil)
	})

	t.Run("delete", func(t *testing.T) {
		u := create(t, L)
		if _, err := m.AppendUpload(ctx, u.Key, photo.Chunk{Offset: 0, Total: L, Size: 500, Body: bytes.NewReader(payload[:500])}); err != nil {
			t.Fatal(err)
		}
		if err := m.DeleteUpload(ctx, u.Key); err != nil {
			t.Fatalf("DeleteUpload: %v", err)
		}
		if objs := uploadObjects(t, st, u.Key); len(objs) != 0 {
			t.Errorf("objects left: %q", objs)
		}
		if _, err := m.AppendUpload(ctx, u.Key, photo.Chunk{Offset: 500, Total: L, Size: L - 500, Body: bytes.NewReader(payload[500:])}); !errors.Is(err, photo.ErrNotFound) {
			t.Errorf("AppendUpload after delete: %v, want ErrNotFound", err)
		}
		if err := m.DeleteUpload(ctx, u.Key); !errors.Is(err, photo.ErrNotFound) {
			t.Errorf("second DeleteUpload: %v, want ErrNotFound", err)
		}
	})

	t.Run("expiry", func(t *testing.T) {
		ec := &uploadClock{t: clock.Now()}
		em, err := photo.New(st, &photo.Options{Now: ec.Now})
		if err != nil {
			t.Fatal(err)
		}
		short, err := em.CreateUpload(ctx, "u", "image/jpeg", L, &photo.UploadOptions{Name: "a.jpg", TTL: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		long, err := em.CreateUpload(ctx, "u", "image/jpeg", L, &photo.UploadOptions{Name: "a.jpg", TTL: 3 * time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		lazy, err := em.CreateUpload(ctx, "u", "image/jpeg", L, &photo.UploadOptions{Name: "a.jpg", TTL: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range []*photo.Upload{short, long, lazy} {
			if _, err := em.AppendUpload(ctx, u.Key, photo.Chunk{Offset: 0, Total: L, Size: 1000, Body: bytes.NewReader(payload[:1000])}); err != nil {
				t.Fatal(err)
			}
		}
		ec.Advance(time.Hour - time.Second)
		if _, err := em.Upload(ctx, short.Key); err != nil {
			t.Fatalf("Upload just before expiry: %v", err)
		}
		ec.Advance(time.Second)
		// An expired upload is refused at once, and removed.
		if _, err := em.AppendUpload(ctx, lazy.Key, photo.Chunk{Offset: 1000, Total: L, Size: L - 1000, Body: bytes.NewReader(payload[1000:])}); !errors.Is(err, photo.ErrNotFound) {
			t.Errorf("AppendUpload at expiry: %v, want ErrNotFound", err)
		}
		if objs := uploadObjects(t, st, lazy.Key); len(objs) != 0 {
			t.Errorf("objects left of an upload refused as expired: %q", objs)
		}
		n, err := em.Sweep(ctx, 0)
		if err != nil {
			t.Fatalf("Sweep: %v", err)
		}
		if n < 1 {
			t.Errorf("Sweep removed %d uploads, want at least 1", n)
		}
		if objs := uploadObjects(t, st, short.Key); len(objs) != 0 {
			t.Errorf("objects left of an expired upload: %q", objs)
		}
		if _, err := em.Upload(ctx, short.Key); !errors.Is(err, photo.ErrNotFound) {
			t.Errorf("Upload of an expired upload: %v, want ErrNotFound", err)
		}
		if got, err := em.Upload(ctx, long.Key); err != nil || got.Received != 1000 {
			t.Errorf("Upload of a live upload: %v, %v", got, err)
		}
		if objs := uploadObjects(t, st, long.Key); len(objs) != 2 {
			t.Errorf("objects of a live upload: %q, want its record and one chunk", objs)
		}
		em.DeleteUpload(ctx, long.Key)
	})

	t.Run("orphan chunks", func(t *testing.T) {
		// Long-lived, so that the later clock below finds it alive.
		u, err := m.CreateUpload(ctx, "uploader", "image/jpeg", L, &photo.UploadOptions{Name: "me.jpg", TTL: 10 * time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := m.AppendUpload(ctx, u.Key, photo.Chunk{Offset: 0, Total: L, Size: 100, Body: bytes.NewReader(payload[:100])}); err != nil {
			t.Fatal(err)
		}
		// What a crash between a chunk's write and its record's leaves:
		// a chunk of a live upload that the record does not list, and the
		// chunks of an upload whose record is gone.
		orphan := "uploads/" + u.Key + "/c/00000000000000000100.zzzzzzzz"
		gone := "uploads/ZZZZZZZZZ9/c/00000000000000000000.zzzzzzzz"
		for _, k := range []string{orphan, gone} {
			if _, err := st.Put(ctx, k, strings.NewReader("orphan"), nil); err != nil {
				t.Fatal(err)
			}
		}
		// Young orphans stay: their writer may be about to list them.
		if _, err := m.Sweep(ctx, 0); err != nil {
			t.Fatal(err)
		}
		if len(uploadObjects(t, st, u.Key)) != 3 || len(uploadObjects(t, st, "ZZZZZZZZZ9")) != 1 {
			t.Errorf("young orphans removed: %q", uploadObjects(t, st, u.Key))
		}
		later, err := photo.New(st, &photo.Options{Now: func() time.Time { return time.Now().Add(2 * time.Hour) }})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := later.Sweep(ctx, 0); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{orphan, gone} {
			if _, err := st.Stat(ctx, k); !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("orphan %s: %v, want it removed", k, err)
			}
		}
		finish(t, u.Key)
	})

	t.Run("racing appends", func(t *testing.T) {
		// In the even rounds both appends write their chunks before
		// either commits, so the compare-and-swap must decide; in the
		// odd ones they run freely.
		gate := &chunkGate{Bucket: d}
		gm, err := photo.New(storage.NewBucket(gate), &photo.Options{Now: clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		for round := range 4 {
			u := create(t, L)
			a := bytes.Clone(payload[:200])
			b := bytes.Clone(a)
			b[round] ^= 0xff
			if round%2 == 0 {
				gate.arm(2)
			}
			errs := make([]error, 2)
			var wg sync.WaitGroup
			for i, data := range [][]byte{a, b} {
				wg.Go(func() {
					_, errs[i] = gm.AppendUpload(ctx, u.Key, photo.Chunk{Offset: 0, Total: L, Size: 200, Body: bytes.NewReader(data)})
				})
			}
			wg.Wait()
			gate.arm(0)
			ok := 0
			for _, err := range errs {
				switch {
				case err == nil:
					ok++
				case !errors.Is(err, photo.CodeUploadConflict):
					t.Errorf("round %d: the loser's error %v does not match CodeUploadConflict", round, err)
				}
			}
			if ok != 1 {
				t.Fatalf("round %d: %d appends succeeded, want exactly 1 (errors %v)", round, ok, errs)
			}
			var chunks []string
			for _, k := range uploadObjects(t, st, u.Key) {
				if strings.Contains(k, "/c/") {
					chunks = append(chunks, k)
				}
			}
			if len(chunks) != 1 {
				t.Errorf("round %d: chunk objects %q, want the winner's only", round, chunks)
			}
			cur, err := m.Upload(ctx, u.Key)
			if err != nil || cur.Received != 200 {
				t.Fatalf("round %d: Upload = %v, %v", round, cur, err)
			}
			if errs[0] == nil {
				finish(t, u.Key)
			} else {
				m.DeleteUpload(ctx, u.Key)
			}
		}
	})

	t.Run("another manager continues", func(t *testing.T) {
		other, err := photo.New(st, &photo.Options{Now: clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		u := create(t, L)
		if _, err := m.AppendUpload(ctx, u.Key, photo.Chunk{Offset: 0, Total: L, Size: half, Body: bytes.NewReader(payload[:half])}); err != nil {
			t.Fatal(err)
		}
		got, err := other.Upload(ctx, u.Key)
		if err != nil || got.Received != half {
			t.Fatalf("other Manager's Upload = %v, %v", got, err)
		}
		if _, err := other.AppendUpload(ctx, u.Key, photo.Chunk{Offset: half, Size: L - half, Body: bytes.NewReader(payload[half:])}); err != nil {
			t.Fatal(err)
		}
		finish(t, u.Key)
	})

	m.Delete(ctx, ref.UserID, nil)
}

// chunkGate is a store whose chunk writes, once armed for n writers, wait
// until n of them have arrived, so that racing appends all pass their
// checks before any commits.
type chunkGate struct {
	driver.Bucket
	mu      sync.Mutex
	n       int
	arrived int
	open    chan struct{}
}

func (g *chunkGate) arm(n int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.n, g.arrived, g.open = n, 0, make(chan struct{})
}

func (g *chunkGate) Put(ctx context.Context, key string, r io.Reader, o *storage.PutOptions) (storage.Attrs, error) {
	if strings.Contains(key, "/c/") {
		g.mu.Lock()
		open, n := g.open, g.n
		if n > 0 {
			g.arrived++
			if g.arrived == n {
				close(open)
			}
		}
		g.mu.Unlock()
		if n > 0 {
			select {
			case <-open:
			case <-time.After(30 * time.Second):
				return storage.Attrs{}, errors.New("chunkGate: the other writer never came")
			}
		}
	}
	return g.Bucket.Put(ctx, key, r, o)
}

// TestUploadChunkLimit checks that an upload takes at most
// MaxUploadChunks chunks, and that the refusal says so.
func TestUploadChunkLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("sends a thousand chunks")
	}
	m, err := photo.New(photo.NewTestBucket(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const L = 1024 + 10
	u, err := m.CreateUpload(ctx, "u", "image/png", L, &photo.UploadOptions{Name: "a.png", TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	for i := range int64(1024) {
		if _, err := m.AppendUpload(ctx, u.Key, photo.Chunk{Offset: i, Total: L, Size: 1, Body: strings.NewReader("x")}); err != nil {
			t.Fatalf("chunk %d: %v", i, err)
		}
	}
	got, err := m.AppendUpload(ctx, u.Key, photo.Chunk{Offset: 1024, Total: L, Size: 1, Body: strings.NewReader("x")})
	if photo.CodeOf(err) != photo.CodeBadRange || got == nil || got.Received != 1024 {
		t.Fatalf("chunk %d: %v, want an CodeBadRange saying %d bytes arrived", 1024, err, 1024)
	}
	// A repeat of bytes already received still works: it stores nothing.
	if _, err := m.AppendUpload(ctx, u.Key, photo.Chunk{Offset: 0, Total: L, Size: 2, Body: strings.NewReader("xx")}); err != nil {
		t.Errorf("repeat after the limit: %v", err)
	}
}

// BenchmarkUploadAppend measures sending a 16 MiB upload in 1 MiB chunks
// to the memory backend: the cost of the chunk objects and the record's
// compare-and-swap, without the network.
func BenchmarkUploadAppend(b *testing.B) {
	const chunk, chunks = 1 << 20, 16
	m, err := photo.New(photo.NewTestBucket(b), nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	data := bytes.Repeat([]byte{0x5a}, chunk)
	b.SetBytes(chunk * chunks)
	b.ReportAllocs()
	for b.Loop() {
		u, err := m.CreateUpload(ctx, "u", "image/jpeg", chunk*chunks, &photo.UploadOptions{Name: "a.jpg", TTL: time.Hour})
		if err != nil {
			b.Fatal(err)
		}
		for i := range int64(chunks) {
			if _, err := m.AppendUpload(ctx, u.Key, photo.Chunk{Offset: i * chunk, Total: chunk * chunks, Size: chunk, Body: bytes.NewReader(data)}); err != nil {
				b.Fatal(err)
			}
		}
		if err := m.DeleteUpload(ctx, u.Key); err != nil {
			b.Fatal(err)
		}
	}
}
