package avatar

import (
	"crypto/sha256"
	"image/color"
	"math"
)

// The foreground sits at a fixed OKLCH lightness and chroma, so only its
// hue varies: all avatars look equally strong, and the contrast against
// the background (and of white initials against the foreground) holds for
// every hue. Where a hue cannot reach fgChroma inside sRGB, the chroma is
// lowered until it fits.
const (
	fgLightness = 0.60
	fgChroma    = 0.13
	bgLightness = 0.965
	bgChroma    = 0.018
)

// colours returns the foreground and background colours for digest d.
func colours(d [sha256.Size]byte) (fg, bg color.NRGBA) {
	h := hue(d)
	return oklch(fgLightness, fgChroma, h), oklch(bgLightness, bgChroma, h)
}

// oklch converts an OKLCH colour (hue in degrees) to 8-bit sRGB, lowering
// the chroma in small steps until the colour is inside the sRGB gamut.
func oklch(l, c, hDeg float64) color.NRGBA {
	h := hDeg * math.Pi / 180
	for ; ; c -= 0.002 {
		c = max(c, 0)
		r, g, b := oklabToLinearSRGB(l, c*math.Cos(h), c*math.Sin(h))
		const eps = 1e-9
		if c == 0 || (r >= -eps && r <= 1+eps && g >= -eps && g <= 1+eps && b >= -eps && b <= 1+eps) {
			return color.NRGBA{R: srgb8(r), G: srgb8(g), B: srgb8(b), A: 255}
		}
	}
}

// oklabToLinearSRGB applies Björn Ottosson's published OKLab to linear
// sRGB transform.
func oklabToLinearSRGB(L, a, b float64) (r, g, bl float64) {
	l := L + 0.3963377774*a + 0.2158037573*b
	m := L - 0.1055613458*a - 0.0638541728*b
	s := L - 0.0894841775*a - 1.2914855480*b
	l, m, s = l*l*l, m*m*m, s*s*s
	r = 4.0767416621*l - 3.3077115913*m + 0.2309699292*s
	g = -1.2684380046*l + 2.6097574011*m - 0.3413193965*s
	bl = -0.0041960863*l - 0.7034186147*m + 1.7076147010*s
	return r, g, bl
}

// srgb8 encodes a linear value with the sRGB transfer curve to 0..255.
func srgb8(v float64) uint8 {
	v = min(max(v, 0), 1)
	if v <= 0.0031308 {
		v *= 12.92
	} else {
		v = 1.055*math.Pow(v, 1/2.4) - 0.055
	}
	return uint8(math.Round(v * 255))
}
