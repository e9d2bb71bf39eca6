package jpeg

import "math"

// The inverse DCT of T.81 A.3.3, for one 8x8 block of dequantized
// coefficients in natural (row-major) order, F[v*8+u]:
//
//	f(x,y) = 1/4 Σu Σv C(u) C(v) F(u,v) cos((2x+1)uπ/16) cos((2y+1)vπ/16)
//
// with C(0) = 1/√2 and C(k) = 1 otherwise, plus the level shift of 128.

// clampByte saturates a sample to 0..255.
func clampByte(v int32) byte {
	if uint32(v) > 255 {
		if v < 0 {
			return 0
		}
		return 255
	}
	return byte(v)
}

// Fixed-point constants of the full-size transform: 13 fractional bits.
const (
	fixBits  = 13
	pass1Sh  = 2 // extra bits kept between the two passes
	fix0_298 = 2446
	fix0_390 = 3196
	fix0_541 = 4433
	fix0_765 = 6270
	fix0_899 = 7373
	fix1_175 = 9633
	fix1_501 = 12299
	fix1_847 = 15137
	fix1_961 = 16069
	fix2_053 = 16819
	fix2_562 = 20995
	fix3_072 = 25172
)

// idct8 transforms blk (natural order, dequantized) into an 8x8 block of
// samples at dst with the given stride. It uses the even/odd factorisation
// of the 8-point transform (Loeffler, Ligtenberg and Moschytz: 12
// multiplications per 1-D pass), written out twice so that it stays in
// registers. blk is used as scratch.
func idct8(blk *[64]int32, dst []byte, stride int) {
	// Columns: results keep pass1Sh extra bits.
	for x := 0; x < 8; x++ {
		s0, s1, s2, s3 := blk[x], blk[8+x], blk[16+x], blk[24+x]
		s4, s5, s6, s7 := blk[32+x], blk[40+x], blk[48+x], blk[56+x]
		if s1|s2|s3|s4|s5|s6|s7 == 0 {
			v := s0 << pass1Sh
			blk[x], blk[8+x], blk[16+x], blk[24+x] = v, v, v, v
			blk[32+x], blk[40+x], blk[48+x], blk[56+x] = v, v, v, v
			continue
		}
		// Even half: inputs 0, 2, 4, 6.
		m := (s2 + s6) * fix0_541
		e2 := m - s6*fix1_847
		e3 := m + s2*fix0_765
		e0 := (s0 + s4) << fixBits
		e1 := (s0 - s4) << fixBits
		a0, a3 := e0+e3, e0-e3
		a1, a2 := e1+e2, e1-e2
		// Odd half: inputs 7, 5, 3, 1.
		z1, z2 := s7+s1, s5+s3
		z3, z4 := s7+s3, s5+s1
		z5 := (z3 + z4) * fix1_175
		z1 *= -fix0_899
		z2 *= -fix2_562
		z3 = z3*-fix1_961 + z5
		z4 = z4*-fix0_390 + z5
		q0 := s7*fix0_298 + z1 + z3
		q1 := s5*fix2_053 + z2 + z4
		q2 := s3*fix3_072 + z2 + z3
		q3 := s1*fix1_501 + z1 + z4
		const sh = fixBits - pass1Sh
		const rnd = 1 << (sh - 1)
		blk[x] = (a0 + q3 + rnd) >> sh
		blk[56+x] = (a0 - q3 + rnd) >> sh
		blk[8+x] = (a1 + q2 + rnd) >> sh
		blk[48+x] = (a1 - q2 + rnd) >> sh
		blk[16+x] = (a2 + q1 + rnd) >> sh
		blk[40+x] = (a2 - q1 + rnd) >> sh
		blk[24+x] = (a3 + q0 + rnd) >> sh
		blk[32+x] = (a3 - q0 + rnd) >> sh
	}
	// Rows: remove pass1Sh, the 1/8 of the 2-D normalisation and the
	// fixed-point scale, and add the level shift.
	const sh = fixBits + pass1Sh + 3
	const rnd = 1<<(sh-1) + 128<<sh
	for y := 0; y < 8; y++ {
		r := blk[y*8 : y*8+8 : y*8+8]
		d := dst[y*stride : y*stride+8 : y*stride+8]
		s0, s1, s2, s3, s4, s5, s6, s7 := r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7]
		if s1|s2|s3|s4|s5|s6|s7 == 0 {
			c := clampByte((s0 + (1<<(pass1Sh+2) + 128<<(pass1Sh+3))) >> (pass1Sh + 3))
			d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7] = c, c, c, c, c, c, c, c
			continue
		}
		// Even half: inputs 0, 2, 4, 6.
		m := (s2 + s6) * fix0_541
		e2 := m - s6*fix1_847
		e3 := m + s2*fix0_765
		e0 := (s0 + s4) << fixBits
		e1 := (s0 - s4) << fixBits
		a0, a3 := e0+e3, e0-e3
		a1, a2 := e1+e2, e1-e2
		// Odd half: inputs 7, 5, 3, 1.
		z1, z2 := s7+s1, s5+s3
		z3, z4 := s7+s3, s5+s1
		z5 := (z3 + z4) * fix1_175
		z1 *= -fix0_899
		z2 *= -fix2_562
		z3 = z3*-fix1_961 + z5
		z4 = z4*-fix0_390 + z5
		q0 := s7*fix0_298 + z1 + z3
		q1 := s5*fix2_053 + z2 + z4
		q2 := s3*fix3_072 + z2 + z3
		q3 := s1*fix1_501 + z1 + z4
		d[0] = clampByte((a0 + q3 + rnd) >> sh)
		d[7] = clampByte((a0 - q3 + rnd) >> sh)
		d[1] = clampByte((a1 + q2 + rnd) >> sh)
		d[6] = clampByte((a1 - q2 + rnd) >> sh)
		d[2] = clampByte((a2 + q1 + rnd) >> sh)
		d[5] = clampByte((a2 - q1 + rnd) >> sh)
		d[3] = clampByte((a3 + q0 + rnd) >> sh)
		d[4] = clampByte((a3 - q0 + rnd) >> sh)
	}
}

// Reduced transforms. For a scale 1/s, output sample m of a block is the
// mean of the s full-size samples s·m .. s·m+s-1 of the ideal transform,
// which is again separable: out(m) = Σk R[m][k] F(k) with
//
//	R[m][k] = 1/s Σj ½ C(k) cos((2(s·m+j)+1)kπ/16).
//
// So a 1/2-scale pixel is the exact 2x2 average of the full-scale block
// (before rounding and clamping), centres aligned, with no extra filter.
const redBits = 12

// redMatrix holds R for s = 2 and 4 in fixed point (redBits), rows m.
type redMatrix [4][8]int32

func makeRed(s int) redMatrix {
	var r redMatrix
	for m := 0; m < 8/s; m++ {
		for k := 0; k < 8; k++ {
			c := 0.5
			if k == 0 {
				c = 0.5 / math.Sqrt2
			}
			sum := 0.0
			for j := 0; j < s; j++ {
				sum += math.Cos(float64(2*(s*m+j)+1) * float64(k) * math.Pi / 16)
			}
			r[m][k] = int32(math.Round(c * sum / float64(s) * (1 << redBits)))
		}
	}
	return r
}

// The entries of red2 and red4 as constants (TestReducedConstants checks
// them). R[m][4] is zero at 1/2 and R[m][2], R[m][4], R[m][6] at 1/4, and
// R[n-1-m][k] = (-1)^k R[m][k], so each 1-D pass splits into even and odd
// sums: 11 multiplications for four outputs, 5 for two.
const (
	rDC  = 1448 // R[m][0], every scale
	r2c1 = 1856 // 1/2, row 0
	r2c2 = 1338
	r2c3 = 652
	r2c5 = -435
	r2c6 = -554
	r2c7 = -369
	r2d1 = 769 // 1/2, row 1 (R[1][2] = -r2c2, R[1][6] = -r2c6)
	r2d3 = -1573
	r2d5 = 1051
	r2d7 = -153
	r4c1 = 1312 // 1/4, row 0
	r4c3 = -461
	r4c5 = 308
	r4c7 = -261
)

// red4pt is the 1-D 1/2-scale pass: four outputs from eight inputs.
func red4pt(f0, f1, f2, f3, f5, f6, f7 int32) (o0, o1, o2, o3 int32) {
	dc := f0 * rDC
	ev := f2*r2c2 + f6*r2c6
	e0, e1 := dc+ev, dc-ev
	od0 := f1*r2c1 + f3*r2c3 + f5*r2c5 + f7*r2c7
	od1 := f1*r2d1 + f3*r2d3 + f5*r2d5 + f7*r2d7
	return e0 + od0, e1 + od1, e1 - od1, e0 - od0
}

// idct4x4 writes the 4x4 samples of a block at 1/2 scale.
func idct4x4(blk *[64]int32, dst []byte, stride int) {
	var tmp [4 * 8]int32
	const sh1 = redBits - 3
	const rnd1 = 1 << (sh1 - 1)
	for u := 0; u < 8; u++ {
		if u == 4 {
			continue // R[m][4] = 0: column 4 does not contribute
		}
		f0, f1, f2, f3 := blk[u], blk[8+u], blk[16+u], blk[24+u]
		f5, f6, f7 := blk[40+u], blk[48+u], blk[56+u]
		if f1|f2|f3|f5|f6|f7 == 0 {
			v := (f0*rDC + rnd1) >> sh1
			tmp[u], tmp[8+u], tmp[16+u], tmp[24+u] = v, v, v, v
			continue
		}
		o0, o1, o2, o3 := red4pt(f0, f1, f2, f3, f5, f6, f7)
		tmp[u], tmp[8+u], tmp[16+u], tmp[24+u] = (o0+rnd1)>>sh1, (o1+rnd1)>>sh1, (o2+rnd1)>>sh1, (o3+rnd1)>>sh1
	}
	const sh2 = redBits + 3
	const rnd2 = 1<<(sh2-1) + 128<<sh2
	for i := 0; i < 4; i++ {
		t := tmp[i*8 : i*8+8 : i*8+8]
		d := dst[i*stride : i*stride+4 : i*stride+4]
		o0, o1, o2, o3 := red4pt(t[0], t[1], t[2], t[3], t[5], t[6], t[7])
		d[0] = clampByte((o0 + rnd2) >> sh2)
		d[1] = clampByte((o1 + rnd2) >> sh2)
		d[2] = clampByte((o2 + rnd2) >> sh2)
		d[3] = clampByte((o3 + rnd2) >> sh2)
	}
}

// idct2x2 writes the 2x2 samples of a block at 1/4 scale.
func idct2x2(blk *[64]int32, dst []byte, stride int) {
	const sh1 = redBits - 3
	const rnd1 = 1 << (sh1 - 1)
	var e, o [8]int32 // per column u: the two outputs' even and odd parts
	for _, u := range [...]int{0, 1, 3, 5, 7} {
		dc := blk[u] * rDC
		od := blk[8+u]*r4c1 + blk[24+u]*r4c3 + blk[40+u]*r4c5 + blk[56+u]*r4c7
		e[u] = (dc + od + rnd1) >> sh1
		o[u] = (dc - od + rnd1) >> sh1
	}
	const sh2 = redBits + 3
	const rnd2 = 1<<(sh2-1) + 128<<sh2
	for i, t := range [2]*[8]int32{&e, &o} {
		dc := t[0] * rDC
		od := t[1]*r4c1 + t[3]*r4c3 + t[5]*r4c5 + t[7]*r4c7
		d := dst[i*stride : i*stride+2 : i*stride+2]
		d[0] = clampByte((dc + od + rnd2) >> sh2)
		d[1] = clampByte((dc - od + rnd2) >> sh2)
	}
}

// idctDC writes the one sample of a 1/8-scale block: the block's mean.
func idctDC(dc int32) byte {
	return clampByte((dc + 4 + 128<<3) >> 3)
}
