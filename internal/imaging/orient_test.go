package imaging

import (
	"fmt"
	"image"
	"image/color"
	"testing"
)

// TestStoredHelperFollowsEXIF checks the test helper that makes stored
// forms against the EXIF specification's own words: which visual side of
// the picture the stored 0th row and 0th column show.
func TestStoredHelperFollowsEXIF(t *testing.T) {
	const w, h = 5, 3
	up := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			up.SetNRGBA(x, y, color.NRGBA{uint8(x), uint8(y), 0, 255})
		}
	}
	// For each orientation: the upright pixel that stored (i, 0) shows and
	// the one that stored (0, i) shows.
	type pt = image.Point
	tests := []struct {
		o          int
		row0, col0 func(i int) pt
	}{
		{1, func(i int) pt { return image.Pt(i, 0) }, func(i int) pt { return image.Pt(0, i) }},       // row 0 top, col 0 left
		{2, func(i int) pt { return image.Pt(w-1-i, 0) }, func(i int) pt { return image.Pt(w-1, i) }}, // row 0 top, col 0 right
		{3, func(i int) pt { return image.Pt(w-1-i, h-1) }, func(i int) pt { return image.Pt(w-1, h-1-i) }},
		{4, func(i int) pt { return image.Pt(i, h-1) }, func(i int) pt { return image.Pt(0, h-1-i) }}, // row 0 bottom, col 0 left
		{5, func(i int) pt { return image.Pt(0, i) }, func(i int) pt { return image.Pt(i, 0) }},       // row 0 left, col 0 top
		{6, func(i int) pt { return image.Pt(w-1, i) }, func(i int) pt { return image.Pt(w-1-i, 0) }}, // row 0 right, col 0 top
		{7, func(i int) pt { return image.Pt(w-1, h-1-i) }, func(i int) pt { return image.Pt(w-1-i, h-1) }},
		{8, func(i int) pt { return image.Pt(0, h-1-i) }, func(i int) pt { return image.Pt(i, h-1) }}, // row 0 left, col 0 bottom
	}
	for _, tc := range tests {
		s := stored(up, tc.o)
		sw, sh := s.Rect.Dx(), s.Rect.Dy()
		for i := range sw {
			p := tc.row0(i)
			if got, want := s.NRGBAAt(i, 0), up.NRGBAAt(p.X, p.Y); got != want {
				t.Errorf("orientation %d: stored (%d,0) shows %v, want upright %v", tc.o, i, got, p)
			}
		}
		for i := range sh {
			p := tc.col0(i)
			if got, want := s.NRGBAAt(0, i), up.NRGBAAt(p.X, p.Y); got != want {
				t.Errorf("orientation %d: stored (0,%d) shows %v, want upright %v", tc.o, i, got, p)
			}
		}
	}
}

func planeOf(m *image.NRGBA, ch int) plane {
	if ch == 4 {
		return plane{pix: m.Pix, stride: m.Stride, w: m.Rect.Dx(), h: m.Rect.Dy(), ch: 4}
	}
	p := newPlane(m.Rect.Dx(), m.Rect.Dy(), 1)
	for y := range p.h {
		for x := range p.w {
			p.pix[y*p.stride+x] = m.Pix[y*m.Stride+4*x] ^ m.Pix[y*m.Stride+4*x+1]
		}
	}
	return p
}

func samePlane(a, b plane) bool {
	if a.w != b.w || a.h != b.h || a.ch != b.ch {
		return false
	}
	for y := range a.h {
		if string(a.row(y)) != string(b.row(y)) {
			return false
		}
	}
	return true
}

// TestUprightPlanes turns the stored forms of an image upright with the
// plane transform, exactly, for every orientation, size parity and channel
// count, and checks storedSize and storedRect against the same forms.
func TestUprightPlanes(t *testing.T) {
	for _, size := range []image.Point{{1, 1}, {1, 7}, {7, 1}, {2, 3}, {5, 4}, {33, 17}, {40, 64}} {
		up := image.NewNRGBA(image.Rect(0, 0, size.X, size.Y))
		for i := range up.Pix {
			up.Pix[i] = uint8(i*31 + i/7)
		}
		for o := 1; o <= 8; o++ {
			s := stored(up, o)
			ori := orientationOf(o)
			for _, ch := range []int{1, 4} {
				t.Run(fmt.Sprintf("%dx%d/o%d/ch%d", size.X, size.Y, o, ch), func(t *testing.T) {
					got := ori.upright(nil, planeOf(s, ch))
					if want := planeOf(up, ch); !samePlane(got, want) {
						t.Fatalf("upright plane differs from the upright image")
					}
				})
			}
			t.Run(fmt.Sprintf("%dx%d/o%d/rgba", size.X, size.Y, o), func(t *testing.T) {
				m := &image.RGBA{Pix: s.Pix, Stride: s.Stride, Rect: s.Rect}
				got := ori.uprightRGBA(nil, m)
				if got.Rect != up.Rect || string(got.Pix) != string(up.Pix) {
					t.Fatalf("uprightRGBA differs from the upright image")
				}
			})
			if sw, sh := ori.storedSize(size.X, size.Y); sw != s.Rect.Dx() || sh != s.Rect.Dy() {
				t.Errorf("o%d: storedSize(%v) = %dx%d, want %v", o, size, sw, sh, s.Rect.Size())
			}
			// Every upright pixel of a rectangle must land inside its
			// stored rectangle, which has the same area.
			r := image.Rect(size.X/3, size.Y/4, size.X/3+max(1, size.X/2), size.Y/4+max(1, size.Y/2)).Intersect(up.Rect)
			sr := ori.storedRect(r, size.X, size.Y)
			if sr.Dx()*sr.Dy() != r.Dx()*r.Dy() {
				t.Errorf("o%d: storedRect(%v) = %v: area changed", o, r, sr)
			}
			marked := image.NewNRGBA(up.Rect)
			for y := r.Min.Y; y < r.Max.Y; y++ {
				for x := r.Min.X; x < r.Max.X; x++ {
					marked.Pix[marked.PixOffset(x, y)+3] = 255
				}
			}
			ms := stored(marked, o)
			for y := range ms.Rect.Dy() {
				for x := range ms.Rect.Dx() {
					in := image.Pt(x, y).In(sr)
					if (ms.NRGBAAt(x, y).A == 255) != in {
						t.Fatalf("o%d: storedRect(%v) = %v, but stored pixel (%d,%d) marked=%v", o, r, sr, x, y, !in)
					}
				}
			}
		}
	}
}

// TestUprightRGBAFromView checks that a sub-image view with a wide stride
// and an offset origin turns upright correctly (bild's flips assume a
// compact image at the origin).
func TestUprightRGBAFromView(t *testing.T) {
	big := image.NewRGBA(image.Rect(0, 0, 20, 10))
	for i := range big.Pix {
		big.Pix[i] = uint8(i)
	}
	view := big.SubImage(image.Rect(3, 2, 10, 7)).(*image.RGBA)
	compact := image.NewRGBA(image.Rect(0, 0, 7, 5))
	for y := range 5 {
		copy(compact.Pix[y*compact.Stride:], big.Pix[big.PixOffset(3, 2+y):big.PixOffset(10, 2+y)])
	}
	for o := 1; o <= 8; o++ {
		a := orientationOf(o).uprightRGBA(nil, view)
		b := orientationOf(o).uprightRGBA(nil, compact)
		if a.Rect.Size() != b.Rect.Size() {
			t.Fatalf("o%d: sizes %v and %v", o, a.Rect, b.Rect)
		}
		for y := range a.Rect.Dy() {
			for x := range a.Rect.Dx() {
				if a.RGBAAt(a.Rect.Min.X+x, a.Rect.Min.Y+y) != b.RGBAAt(x, y) {
					t.Fatalf("o%d: pixel (%d,%d) differs", o, x, y)
				}
			}
		}
	}
}

// TestUprightView: the view of every orientation maps each upright pixel
// to the stored pixel that storedRect, which the renderer crops with,
// maps it to, and has the upright bounds.
func TestUprightView(t *testing.T) {
	const w, h = 5, 3
	stored := image.NewGray(image.Rect(0, 0, w, h))
	for i := range stored.Pix {
		stored.Pix[i] = uint8(10 * i)
	}
	for o := 1; o <= 8; o++ {
		v := Upright(stored, o)
		tr := orientationOf(o)
		uw, uh := tr.storedSize(w, h)
		if v.Bounds() != image.Rect(0, 0, uw, uh) {
			t.Fatalf("orientation %d: bounds %v, want %dx%d", o, v.Bounds(), uw, uh)
		}
		for y := range uh {
			for x := range uw {
				// storedRect maps the upright pixel to the stored one.
				r := tr.storedRect(image.Rect(x, y, x+1, y+1), uw, uh)
				want := stored.GrayAt(r.Min.X, r.Min.Y).Y
				if got := v.At(x, y).(color.Gray).Y; got != want {
					t.Fatalf("orientation %d: upright (%d,%d) = %d, want stored (%d,%d) = %d", o, x, y, got, r.Min.X, r.Min.Y, want)
				}
			}
		}
	}
	if Upright(stored, 1) != image.Image(stored) {
		t.Error("orientation 1 is not the image itself")
	}
}
