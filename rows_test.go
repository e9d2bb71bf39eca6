package photo

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/color/palette"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/profilephoto/photo/internal/imaging"
	"github.com/profilephoto/photo/internal/pngdec"
	"github.com/profilephoto/photo/storage/memstore"
)

// TestRowsRenderLikeImagePNG renders PNGs of many colour types and depths
// twice: from image/png's decoded image (Render) and row by row from
// package pngdec (RenderRows). At sizes where no halving happens while
// reading, every output must be byte for byte the same.
func TestRowsRenderLikeImagePNG(t *testing.T) {
	const w, h = 90, 70
	fill := func(set func(x, y int)) {
		for y := range h {
			for x := range w {
				set(x, y)
			}
		}
	}
	r := image.Rect(0, 0, w, h)
	gray, gray16 := image.NewGray(r), image.NewGray16(r)
	rgba, nrgba := image.NewRGBA(r), image.NewNRGBA(r)
	rgba64, nrgba64 := image.NewRGBA64(r), image.NewNRGBA64(r)
	pal := image.NewPaletted(r, append(color.Palette{color.NRGBA{200, 10, 10, 0}, color.NRGBA{10, 200, 10, 128}}, palette.Plan9[:100]...))
	fill(func(x, y int) {
		v := uint8(x*3 + y*2)
		gray.SetGray(x, y, color.Gray{v})
		gray16.SetGray16(x, y, color.Gray16{uint16(x*700 + y*13)})
		rgba.SetRGBA(x, y, color.RGBA{v, uint8(y * 3), 90, 255})
		nrgba.SetNRGBA(x, y, color.NRGBA{v, uint8(y * 3), 90, uint8(x * 2)})
		rgba64.SetRGBA64(x, y, color.RGBA64{uint16(x * 701), uint16(y * 900), 0x7777, 0xffff})
		nrgba64.SetNRGBA64(x, y, color.NRGBA64{uint16(x * 701), uint16(y * 900), 0x7777, uint16(y * 937)})
		pal.SetColorIndex(x, y, uint8((x+y)%102))
	})
	cases := map[string][]byte{}
	for name, img := range map[string]image.Image{
		"gray8": gray, "gray16": gray16, "rgb8": rgba, "rgba8": nrgba,
		"rgb16": rgba64, "rgba16": nrgba64, "palette with tRNS": pal,
	} {
		var b bytes.Buffer
		if err := png.Encode(&b, img); err != nil {
			t.Fatal(err)
		}
		cases[name] = b.Bytes()
	}
	suite, _ := filepath.Glob(filepath.Join("..", "shared", "testdata", "pngsuite", "*n*.png"))
	for _, f := range suite {
		if data, err := os.ReadFile(f); err == nil {
			cases[filepath.Base(f)] = data
		}
	}
	m, err := New(memstore.New(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			img, err := png.Decode(bytes.NewReader(data))
			if err != nil {
				t.Skipf("image/png refuses it: %v", err)
			}
			d, err := pngdec.NewDecoder(data)
			if err != nil {
				t.Skipf("not read row by row: %v", err)
			}
			spec := m.spec(&source{orientation: 1}, nil, Letterbox)
			spec.Background = color.NRGBA{30, 60, 90, 255} // coloured bars around gray
			want, err := imaging.Render(context.Background(), img, spec)
			if err != nil {
				t.Fatal(err)
			}
			got, err := imaging.RenderRows(context.Background(), d, spec)
			if err != nil {
				t.Fatal(err)
			}
			all := func(r *imaging.Result) []imaging.Encoded {
				return append([]imaging.Encoded{r.Original}, r.Renditions...)
			}
			for i, g := range all(got) {
				if w := all(want)[i]; g.ContentType != w.ContentType || !bytes.Equal(g.Data, w.Data) {
					t.Fatalf("output %d (size %d, %s) differs from image/png's path (%s)", i, g.Size, g.ContentType, w.ContentType)
				}
			}
		})
	}
}
