package imaging

import (
	"image"
	"image/color"
	"testing"
	"time"
)

func TestStages(t *testing.T) {
	img := decodedPhoto(t, 4000, 3000)
	ras, _ := newRaster(img)
	st := time.Now()
	var lv []level
	for _, p := range ras.planes {
		l1, _, _ := halve(p.levels[0], false)
		lv = append(lv, l1)
	}
	t.Logf("halve L0->L1: %v", time.Since(st))
	o := orientation{}
	out := output{w: 2048, h: 1536, canvas: image.Rect(0, 0, 4000, 3000)}
	st = time.Now()
	var planes []plane
	for _, p := range ras.planes {
		jb := plan(ras, o, out, p.chroma, chain(p))
		pl, _ := resample(p.levels[0], jb.ax, jb.ay, []uint8{128})
		planes = append(planes, pl)
	}
	t.Logf("original resample: %v", time.Since(st))
	st = time.Now()
	finish(ras, o, planes, out, bgWhite, 85)
	t.Logf("original encode: %v", time.Since(st))
	_ = lv
}

var bgWhite = color.NRGBA{255, 255, 255, 255}
