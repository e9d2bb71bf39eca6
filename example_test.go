package photo_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/profilephoto/photo/storage"
	"image"
	"image/color"
	"image/jpeg"
	"strings"

	"github.com/profilephoto/photo"
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
	var pe *photo.Error
	if errors.As(err, &pe) {
		fmt.Println(string(pe.Code), errors.Is(err, photo.CodeUnsupportedFormat))
	}
	_, err = m.Get(ctx, "alice")
	fmt.Println(errors.Is(err, photo.ErrNotFound))
	// Output:
	// unsupported_format true
	// true
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
