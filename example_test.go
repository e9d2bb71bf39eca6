package photo_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"strings"

	"github.com/profilephoto/photo"
	"github.com/profilephoto/photo/storage"
	"github.com/profilephoto/photo/storage/memstore"
)

// sampleJPEG makes a w by h JPEG with a diagonal gradient.
func sampleJPEG(w, h int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(x * 255 / w), uint8(y * 255 / h), 128, 255})
		}
	}
	var buf bytes.Buffer
	jpeg.Encode(&buf, img, nil)
	return buf.Bytes()
}

func Example() {
	ctx := context.Background()
	m, err := photo.New(storage.NewBucket(memstore.New()), &photo.Options{Sizes: []int{64, 256}})
	if err != nil {
		panic(err)
	}

	p, err := m.Set(ctx, "alice", bytes.NewReader(sampleJPEG(800, 600)), nil)
	if err != nil {
		panic(err)
	}
	fmt.Println(p.Status, p.SourceType, p.Width, "x", p.Height, p.Fit)
	for _, r := range p.Renditions {
		fmt.Println(r.Size, r.Width, r.Height, r.ContentType)
	}
	// Output:
	// ready image/jpeg 800 x 600 letterbox
	// 64 64 64 image/jpeg
	// 256 256 256 image/jpeg
}

func ExampleManager_Set_crop() {
	ctx := context.Background()
	m, _ := photo.New(storage.NewBucket(memstore.New()), &photo.Options{Sizes: []int{128, 512}})

	// Chatter's cropX, cropY and cropSize, Slack's crop_x, crop_y, crop_w.
	crop := &photo.Crop{X: 100, Y: 50, Size: 300}
	p, err := m.Set(ctx, "alice", bytes.NewReader(sampleJPEG(800, 600)), &photo.SetOptions{Crop: crop})
	if err != nil {
		panic(err)
	}
	fmt.Println(*p.Crop)
	// A rendition is never scaled up: the 512 one is as big as the crop.
	for _, r := range p.Renditions {
		fmt.Println(r.Size, r.Width, r.Height)
	}
	// Output:
	// {100 50 300}
	// 128 128 128
	// 512 300 300
}

func ExampleManager_Set_idempotent() {
	ctx := context.Background()
	m, _ := photo.New(storage.NewBucket(memstore.New()), nil)
	data := sampleJPEG(300, 300)

	first, _ := m.Set(ctx, "bob", bytes.NewReader(data), nil)
	again, _ := m.Set(ctx, "bob", bytes.NewReader(data), nil)
	fmt.Println(first.VersionID == again.VersionID, again.Revision)
	// Output:
	// true 1
}

func ExampleError() {
	ctx := context.Background()
	m, _ := photo.New(storage.NewBucket(memstore.New()), nil)

	_, err := m.Set(ctx, "alice", strings.NewReader("<svg xmlns='http://www.w3.org/2000/svg'/>"), nil)
	fmt.Println(errors.Is(err, photo.ErrInvalidInput), photo.CodeOf(err) == photo.CodeUnsupportedFormat)
	var pe *photo.Error
	if errors.As(err, &pe) {
		fmt.Println(pe.SafeMessage())
	}

	_, err = m.Set(ctx, "", bytes.NewReader(sampleJPEG(10, 10)), nil)
	fmt.Println(errors.Is(err, photo.ErrInvalidInput), string(photo.CodeOf(err)))

	_, err = m.Get(ctx, "alice")
	fmt.Println(errors.Is(err, photo.ErrNotFound))
	// Output:
	// true true
	// image/svg+xml images are not supported; use JPEG, PNG, GIF, WebP, HEIC or AVIF
	// true bad_user_id
	// true
}

func ExampleManager_OpenRendition() {
	ctx := context.Background()
	m, _ := photo.New(storage.NewBucket(memstore.New()), &photo.Options{Sizes: []int{64}})
	p, _ := m.Set(ctx, "alice", bytes.NewReader(sampleJPEG(200, 200)), nil)

	b, err := m.OpenRendition(ctx, "alice", p.VersionID, 64, "")
	if err != nil {
		panic(err)
	}
	defer b.Close()
	// Copy from the embedded reader, which may implement io.WriterTo (a
	// file's, for sendfile), rather than from b.
	var out bytes.Buffer
	n, err := io.Copy(&out, b.ReadSeekCloser)
	fmt.Println(n == b.Rendition.Bytes, err, b.Rendition.ContentType)
	// Output:
	// true <nil> image/jpeg
}

func ExampleManager_AppendUpload() {
	ctx := context.Background()
	m, _ := photo.New(storage.NewBucket(memstore.New()), &photo.Options{Sizes: []int{64}})
	data := sampleJPEG(300, 300)
	n := int64(len(data))

	u, err := m.CreateUpload(ctx, "alice", "image/jpeg", n, &photo.UploadOptions{Name: "me.jpg"})
	if err != nil {
		panic(err)
	}
	// The first half, then a chunk that leaves a gap: refused, with where
	// the upload stands, so the client resumes from there.
	u, _ = m.AppendUpload(ctx, u.Key, photo.Chunk{Offset: 0, Size: n / 2, Body: bytes.NewReader(data[:n/2])})
	u, err = m.AppendUpload(ctx, u.Key, photo.Chunk{Offset: n - 1, Size: 1, Body: bytes.NewReader(data[n-1:])})
	fmt.Println(errors.Is(err, photo.ErrConflict), u.Received == n/2)
	u, _ = m.AppendUpload(ctx, u.Key, photo.Chunk{Offset: u.Received, Size: n - u.Received, Total: n, Body: bytes.NewReader(data[u.Received:])})

	p, err := m.SetFromUpload(ctx, "alice", u.Key, nil)
	fmt.Println(u.Received == u.Length, p.Width, err)
	// Output:
	// true true
	// true 300 <nil>
}

func ExampleManager_StartImport() {
	ctx := context.Background()
	m, _ := photo.New(storage.NewBucket(memstore.New()), &photo.Options{Sizes: []int{64}})

	im, err := m.StartImport(ctx, "alice", "https://example.com/alice.jpg")
	if err != nil {
		panic(err)
	}
	fmt.Println(im.Photo.Status)
	// The download runs elsewhere (a worker); then it finishes, or fails
	// with im.Fail(ctx, err).
	p, err := im.Finish(ctx, bytes.NewReader(sampleJPEG(100, 100)), nil)
	fmt.Println(p.Status, err)
	// Output:
	// downloading
	// ready <nil>
}

func ExampleManager_SetFromFile() {
	ctx := context.Background()
	m, _ := photo.New(storage.NewBucket(memstore.New()), &photo.Options{Sizes: []int{64}})

	f, err := m.CreateFile(ctx, "alice", "portrait.jpg", bytes.NewReader(sampleJPEG(640, 480)))
	if err != nil {
		panic(err)
	}
	// Version 0 means the latest, as Chatter's versionNumber left out.
	p, err := m.SetFromFile(ctx, "alice", f.ID, 0, &photo.SetOptions{Crop: &photo.Crop{X: 80, Y: 0, Size: 480}})
	if err != nil {
		panic(err)
	}
	fmt.Println(p.SourceFileVersion, p.Renditions[0].Width)
	// Output:
	// 1 64
}

func ExampleManager_Delete_ifRevision() {
	ctx := context.Background()
	m, _ := photo.New(storage.NewBucket(memstore.New()), nil)
	p, _ := m.Set(ctx, "carol", bytes.NewReader(sampleJPEG(200, 200)), nil)

	err := m.Delete(ctx, "carol", &photo.DeleteOptions{IfRevision: p.Revision + 1})
	fmt.Println(errors.Is(err, photo.ErrConflict))
	err = m.Delete(ctx, "carol", &photo.DeleteOptions{IfRevision: p.Revision})
	fmt.Println(err)
	// Output:
	// true
	// <nil>
}

func ExampleManager_Restore() {
	ctx := context.Background()
	m, _ := photo.New(storage.NewBucket(memstore.New()), &photo.Options{Sizes: []int{64}, KeepVersions: 2})

	first, _ := m.Set(ctx, "carol", bytes.NewReader(sampleJPEG(300, 200)), nil)
	second, _ := m.Set(ctx, "carol", bytes.NewReader(sampleJPEG(200, 300)), nil)
	p, _ := m.Get(ctx, "carol")
	fmt.Println(p.VersionID == second.VersionID, len(p.History), p.History[0].VersionID == first.VersionID)

	// The first photo again: a new revision, the same version ID (and URLs).
	p, err := m.Restore(ctx, "carol", first.VersionID, &photo.SetOptions{IfRevision: p.Revision})
	if err != nil {
		panic(err)
	}
	fmt.Println(p.VersionID == first.VersionID, p.Revision, p.History[0].VersionID == second.VersionID)

	// Drop the second from the history; a plain Delete would remove all.
	err = m.Delete(ctx, "carol", &photo.DeleteOptions{VersionID: second.VersionID})
	p, _ = m.Get(ctx, "carol")
	fmt.Println(err, len(p.History))
	// Output:
	// true 1 true
	// true 3 true
	// <nil> 0
}

func ExampleManager_Sweep() {
	ctx := context.Background()
	m, _ := photo.New(storage.NewBucket(memstore.New()), nil)

	// A server runs Sweep now and then: expired uploads and files, then
	// blobs no record references that are older than an hour (0).
	n, err := m.Sweep(ctx, 0)
	fmt.Println(n, err)
	// Output:
	// 0 <nil>
}

func ExampleManager_Default() {
	ctx := context.Background()
	names := map[string]string{"bob": "Bob Marley"}
	m, _ := photo.New(storage.NewBucket(memstore.New()), &photo.Options{
		Sizes: []int{64, 200},
		// Initials for users the host knows; identicons for the others.
		DisplayName: func(_ context.Context, userID string) (string, error) { return names[userID], nil },
	})
	for _, user := range []string{"alice", "bob"} {
		b, err := m.Default(ctx, user, 64) // whether or not the user has a photo
		if err != nil {
			panic(err)
		}
		cfg, _, _ := image.DecodeConfig(b)
		b.Close()
		fmt.Println(user, b.Rendition.ContentType, cfg.Width, cfg.Height)
	}
	p, _ := m.Set(ctx, "alice", bytes.NewReader(sampleJPEG(300, 200)), nil)
	fmt.Println(len(p.Placeholder) > 20) // a ThumbHash to draw while renditions load
	// Output:
	// alice image/png 64 64
	// bob image/png 64 64
	// true
}

func ExampleOptions_hooks() {
	ctx := context.Background()
	events := make(chan photo.Event, 4)
	m, _ := photo.New(storage.NewBucket(memstore.New()), &photo.Options{
		Sizes: []int{64},
		// A moderation check of the application's: here, no portraits.
		BeforeCommit: func(_ context.Context, userID string, img image.Image) error {
			if b := img.Bounds(); b.Dy() > b.Dx() {
				return &photo.Error{Code: photo.CodeRefused, Message: "please use a landscape photo"}
			}
			return nil
		},
		// Told of every committed change, after the commit, at least
		// once: returning nil acknowledges the event.
		OnChange: func(_ context.Context, e photo.Event) error {
			events <- e
			return nil
		},
	})

	_, err := m.Set(ctx, "dave", bytes.NewReader(sampleJPEG(300, 400)), nil)
	fmt.Println(string(photo.CodeOf(err)), errors.Is(err, photo.ErrInvalidInput), err.(*photo.Error).SafeMessage())

	p, _ := m.Set(ctx, "dave", bytes.NewReader(sampleJPEG(400, 300)), nil)
	e := <-events
	fmt.Println(e.Kind, e.UserID, e.VersionID == p.VersionID, e.Revision)

	m.Delete(ctx, "dave", nil)
	e = <-events
	fmt.Println(e.Kind, e.VersionID == p.VersionID, e.Photo == nil)
	// Output:
	// refused true please use a landscape photo
	// set dave true 1
	// delete true true
}

func ExampleManager_OpenRendition_webp() {
	ctx := context.Background()
	m, _ := photo.New(storage.NewBucket(memstore.New()), &photo.Options{Sizes: []int{64, 256}})
	p, _ := m.Set(ctx, "erin", bytes.NewReader(texturedJPEG(800, 600)), nil)

	// A client whose Accept names image/webp. The WebP is made on the
	// first request from a source at least twice as large (the 256 px
	// rendition for 64, the 800 px original for 256), kept only if it is
	// smaller than the JPEG and at least as close to the pixels, and
	// stored, with an ETag of its own; otherwise the JPEG is served.
	for _, size := range []int{64, 256} {
		b, err := m.OpenRendition(ctx, "erin", p.VersionID, size, "image/webp")
		if err != nil {
			panic(err)
		}
		b.Close()
		fmt.Println(size, b.Rendition.ContentType)
	}
	// Output:
	// 64 image/webp
	// 256 image/webp
}

// texturedJPEG makes a w by h JPEG with some of a photograph's texture:
// smooth shading with fine detail on top.
func texturedJPEG(w, h int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	seed := uint32(1)
	for y := range h {
		for x := range w {
			seed = seed*1664525 + 1013904223
			n := int(seed>>24) / 8
			img.Set(x, y, color.RGBA{uint8(x*200/w + n), uint8(y*200/h + n), uint8((x+y)%64*2 + n), 255})
		}
	}
	var buf bytes.Buffer
	jpeg.Encode(&buf, img, &jpeg.Options{Quality: 95})
	return buf.Bytes()
}
