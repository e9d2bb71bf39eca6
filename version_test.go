package photo

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"testing"
)

// TestVersionIDsUnchanged pins version IDs made before the zero Fit meant
// the default: Letterbox and Cover must hash their old numbers, or every
// URL cached by version would change.
func TestVersionIDsUnchanged(t *testing.T) {
	img := image.NewNRGBA(image.Rect(0, 0, 40, 30))
	for i := range img.Pix {
		img.Pix[i] = uint8(i * 7)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		opts *SetOptions
		want string
	}{
		{nil, "47shgjrvqryhuvop"},
		{&SetOptions{Fit: Letterbox}, "47shgjrvqryhuvop"},
		{&SetOptions{Fit: Cover}, "pjcjexutyufzxjmx"},
	} {
		m, err := New(newBucket(t), &Options{Sizes: []int{16}})
		if err != nil {
			t.Fatal(err)
		}
		p, err := m.Set(context.Background(), "u", bytes.NewReader(buf.Bytes()), tc.opts)
		if err != nil {
			t.Fatal(err)
		}
		if p.VersionID != tc.want {
			t.Errorf("Set(%+v) = version %s, want %s", tc.opts, p.VersionID, tc.want)
		}
	}
}
