package imgcheck

import (
	"bytes"

	"github.com/gabriel-vasile/mimetype"
)

// Format is what Sniff finds a file to be.
type Format int

// The formats Sniff tells apart.
const (
	// NotImage: no image format (empty, text, HTML, archives, PDF,
	// PostScript, DjVu documents, ...).
	NotImage Format = iota
	// JPEG, PNG (APNG included), GIF and WebP are the accepted formats.
	JPEG
	PNG
	GIF
	WebP
	// HEIF: an ISOBMFF image (HEIC, HEIF, AVIF and their sequences), for
	// which there is no decoder; ScanHEIF still judges its structure.
	HEIF
	// OtherImage: an image format that is not accepted (SVG, TIFF, ICO,
	// BMP, JPEG XL, PSD, ...).
	OtherImage
	// BrokenPNG: a PNG whose signature was damaged (a flipped bit, or a
	// text-mode transfer that rewrote line endings). It is an image, so
	// it is corrupt rather than "not an image".
	BrokenPNG
)

// notImages are media types mimetype files under image/ that are not
// pictures a person would upload as a photo.
var notImages = []string{"image/vnd.djvu", "image/vnd.dwg", "image/vnd.dxf"}

// Sniff tells the format of data from its content alone, never from a
// name or a declared type, and returns it with the detected media type
// (for messages). It calls mimetype.Detect on the bytes given, so it reads
// at most mimetype's default prefix and touches no global setting.
func Sniff(data []byte) (Format, string) {
	m := mimetype.Detect(data)
	mime := m.String()
	if len(data) == 0 {
		return NotImage, "an empty file"
	}
	for x := m; x != nil; x = x.Parent() {
		switch {
		case x.Is("image/jpeg"):
			return JPEG, "image/jpeg"
		case x.Is("image/png"):
			return PNG, "image/png"
		case x.Is("image/gif"):
			return GIF, "image/gif"
		case x.Is("image/webp"):
			return WebP, "image/webp"
		case x.Is("image/heic"), x.Is("image/heic-sequence"), x.Is("image/heif"),
			x.Is("image/heif-sequence"), x.Is("image/avif"):
			return HEIF, x.String()
		}
	}
	for _, t := range notImages {
		if m.Is(t) {
			return NotImage, mime
		}
	}
	if len(mime) > 6 && mime[:6] == "image/" {
		return OtherImage, mime
	}
	if isSVG(data) {
		return OtherImage, "image/svg+xml"
	}
	if brokenPNG(data) {
		return BrokenPNG, "image/png"
	}
	return NotImage, mime
}

// brokenPNG reports whether data looks like a PNG whose signature was
// damaged: the signature's first byte or its "PNG" is intact, and an IHDR
// chunk type follows where the signature and the first chunk's length
// would put it (give or take the bytes a line-ending conversion adds or
// removes).
func brokenPNG(data []byte) bool {
	if len(data) < 16 || data[0] != 0x89 && string(data[1:4]) != "PNG" {
		return false
	}
	i := bytes.Index(data[:min(len(data), 24)], []byte("IHDR"))
	return i >= 8 && i <= 16
}

// isSVG reports whether data is an XML document whose root element is svg.
// mimetype only names SVG when the root carries the SVG namespace first,
// but browsers and converters take SVG without it too (and run its
// scripts), so the root element decides. Leading white space, a byte
// order mark, the XML declaration, processing instructions, comments and a
// DOCTYPE are skipped; only the first 4 KiB are looked at.
func isSVG(data []byte) bool {
	b := data[:min(len(data), 4096)]
	b = bytes.TrimPrefix(b, []byte("\xEF\xBB\xBF"))
	for {
		b = bytes.TrimLeft(b, " \t\r\n")
		var end []byte
		switch {
		case bytes.HasPrefix(b, []byte("<?")):
			end = []byte("?>")
		case bytes.HasPrefix(b, []byte("<!--")):
			end = []byte("-->")
		case bytes.HasPrefix(b, []byte("<!")): // DOCTYPE, perhaps with an internal subset
			end = []byte(">")
			if i := bytes.IndexByte(b, '['); i >= 0 && i < bytes.IndexByte(b, '>') {
				end = []byte("]>")
			}
		default:
			if len(b) < 5 || !bytes.EqualFold(b[:4], []byte("<svg")) {
				return false
			}
			switch b[4] {
			case ' ', '\t', '\r', '\n', '>', '/', ':':
				return true
			}
			return false
		}
		i := bytes.Index(b, end)
		if i < 0 {
			return false
		}
		b = b[i+len(end):]
	}
}
