package imaging

// plane is a rectangle of 8-bit samples with ch interleaved channels per
// pixel: one for a Y, Cb, Cr or gray plane, four for premultiplied RGBA.
// Row y starts at pix[y*stride].
type plane struct {
	pix    []uint8
	stride int
	w, h   int
	ch     int
}

// newPlane returns a zeroed w by h plane with ch channels.
func newPlane(w, h, ch int) plane {
	return plane{pix: make([]uint8, w*h*ch), stride: w * ch, w: w, h: h, ch: ch}
}

// row returns the samples of row y.
func (p plane) row(y int) []uint8 {
	i := y * p.stride
	return p.pix[i : i+p.w*p.ch : i+p.w*p.ch]
}

// fits reports whether pix holds every sample that the geometry names, so
// that no index can go out of range later.
func (p plane) fits() bool {
	if p.w <= 0 || p.h <= 0 {
		return false
	}
	if p.stride < p.w*p.ch {
		return false
	}
	need := (p.h-1)*p.stride + p.w*p.ch
	return need > 0 && len(p.pix) >= need
}

// geom places a plane's pixels along one axis of the frame (the stored
// image's luma or pixel grid, its origin at the image's top-left corner):
// the centre of pixel i lies at o + s*(i+0.5). Chroma planes have s equal to
// their subsampling factor; every halving doubles s.
type geom struct {
	o, s float64
}

// level is a plane at one step of a pyramid, with its place in the frame.
type level struct {
	plane
	gx, gy geom
}
