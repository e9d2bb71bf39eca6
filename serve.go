package photo

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	"image/draw"
	"image/png"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"time"

	"golang.org/x/image/webp"

	"github.com/profilephoto/photo/internal/imaging"
	"github.com/profilephoto/photo/internal/imgcheck"
	"github.com/profilephoto/photo/internal/quality"
	"github.com/profilephoto/photo/internal/webpenc"
	"github.com/profilephoto/photo/storage"
)

// Blob is an open rendition, ready to be served. The caller must Close it.
//
// The embedded ReadSeekCloser is the storage driver's own reader, which may
// implement io.WriterTo (aferostore's does, so that copying a file to a
// network connection can use sendfile): copy from b.ReadSeekCloser, not
// from b, to keep that path, as in io.Copy(w, b.ReadSeekCloser).
type Blob struct {
	io.ReadSeekCloser
	// Rendition describes the bytes.
	Rendition Rendition
	// ModTime is when the version was committed.
	ModTime time.Time
}

// OpenRendition opens the bytes of a user's rendition of the given size (0
// for the normalised original) if versionID is still the current version
// or a kept earlier one (Options.KeepVersions).
// A size from OnDemandSizes that is not stored yet is made from the
// nearest larger stored rendition and stored. Otherwise it returns an error
// ErrNotFound. A failure of the storage is an error without a Code, never
// ErrNotFound. The caller must Close the Blob.
//
// format is the media type wanted: "" for the stored one (JPEG, or PNG
// for images with transparency), or "image/webp" for WebP; any other is
// an error CodeBadArgument. Blob.Rendition.ContentType says what was
// opened: a WebP only where it is smaller than the stored rendition and
// at least as close to the pixels (SSIM), else the stored JPEG or PNG
// with its own ETag; the normalised original (size 0) is always the
// stored one, and so is every size when Options.WebPQuality turns WebP
// off. A WebP has its own ETag.
//
// The WebP of a JPEG rendition is lossy, made from a source at least
// twice its side (a stored rendition, or the normalised original for the
// largest sizes; a size with none gets no WebP), at Options.WebPQuality
// and, while not as close as the JPEG, at a few higher qualities; that of
// a PNG rendition is lossless, made from its own pixels. It is made on
// its first request and stored beside the JPEG or PNG under the
// version's prefix (so it goes when the version goes), and so is a
// verdict that no WebP qualified, not by Set: Set's latency is what
// uploads wait for, most renditions are never asked for as WebP, and a
// WebP made later from a source twice as large is as good as one made by
// Set. Concurrent first requests may each make it; the store keeps the
// first write (IfAbsent) and every request serves what it holds.
func (m *Manager) OpenRendition(ctx context.Context, userID, versionID string, size int, format string) (*Blob, error) {
	if err := checkUserID(userID); err != nil {
		return nil, err
	}
	webp := false
	switch format {
	case "":
	case webpType:
		webp = size != 0 && m.cfg.webpQuality > 0
	default:
		return nil, &Error{Code: CodeBadArgument, Message: fmt.Sprintf("format %q is not one of \"\" and %q", format, webpType)}
	}
	if !isVersionID(versionID) {
		return nil, renditionNotFound(userID, versionID, size)
	}
	// A version seen before needs no record read: its blobs are there
	// while it is current or kept, and gone once a change dropped it.
	if v := m.versions.get(userID, versionID); v != nil {
		b, err := m.openVersion(ctx, userID, v, size, webp)
		if !errors.Is(err, ErrNotFound) {
			return b, err
		}
		m.versions.forget(userID, v)
	}
	rec, _, err := loadRecord(ctx, m.bucket, userID)
	if err != nil {
		return nil, wrapErr(err, "open %q", userID)
	}
	v := rec.find(versionID)
	if v == nil {
		return nil, renditionNotFound(userID, versionID, size)
	}
	b, err := m.openVersion(ctx, userID, v, size, webp)
	if err == nil {
		m.versions.put(userID, v)
	}
	return b, err
}

func renditionNotFound(userID, versionID string, size int) error {
	return notFound("the photo has no version %s of size %d", versionID, size)
}

// openVersion opens the blob of size in v, as WebP if webp, or returns an
// error wrapping ErrNotFound if v has no such size or its blobs are gone.
func (m *Manager) openVersion(ctx context.Context, userID string, v *version, size int, webp bool) (*Blob, error) {
	if webp && webpPays(v, size) {
		b, err := m.openWebP(ctx, userID, v, size)
		if !errors.Is(err, errNoWebP) && !errors.Is(err, errOriginalUnfit) {
			return b, err
		}
		// No WebP beats the stored rendition, or the original turned out
		// unable to serve: the stored format.
	}
	var b *blob
	if size == 0 {
		b = &v.Original
	} else if i := slices.IndexFunc(v.Renditions, func(b blob) bool { return b.Size == size }); i >= 0 {
		b = &v.Renditions[i]
	}
	if b == nil {
		if !slices.Contains(m.cfg.onDemand, size) {
			return nil, renditionNotFound(userID, v.ID, size)
		}
		return m.openOnDemand(ctx, userID, v, size)
	}
	r, err := m.bucket.Open(ctx, v.Prefix+b.Name)
	if errors.Is(err, storage.ErrNotFound) {
		// The version was replaced since its record was read.
		return nil, renditionNotFound(userID, v.ID, size)
	}
	if err != nil {
		return nil, wrapErr(err, "open %q", userID)
	}
	return &Blob{ReadSeekCloser: r, Rendition: b.rendition(), ModTime: v.Created}, nil
}

// openOnDemand serves a size that is not in the record: a stored copy made
// earlier, or a new one made from the nearest larger rendition. These blobs
// live under the version's prefix, so they go when the version goes.
func (m *Manager) openOnDemand(ctx context.Context, userID string, v *version, size int) (*Blob, error) {
	key := v.Prefix + "d" + strconv.Itoa(size)
	open := func() (*Blob, error) {
		r, err := m.bucket.Open(ctx, key)
		if err != nil {
			return nil, err
		}
		config := func(r io.Reader) (image.Config, error) {
			c, _, err := image.DecodeConfig(r)
			return c, err
		}
		return storedBlob(r, key, v, size, r.Attrs().ContentType, etagOf(v.ID, size), config)
	}
	if b, err := open(); err == nil {
		return b, nil
	} else if !errors.Is(err, storage.ErrNotFound) {
		return nil, wrapErr(err, "open size %d", size)
	}
	i := slices.IndexFunc(v.Renditions, func(b blob) bool { return b.Size >= size })
	if i < 0 {
		// No larger rendition to make it from (the sizes changed).
		return nil, renditionNotFound(userID, v.ID, size)
	}
	// Making a size is rendering: it waits for a slot like Set, so that a
	// burst of first requests cannot take every CPU.
	// The source is a rendition (at most 4096 pixels a side): its decoded
	// image, the working copy and the output.
	sw, sh := v.Renditions[i].Width, v.Renditions[i].Height
	need := 16*int64(sw)*int64(sh) + 1<<20
	if err := m.acquire(ctx, need); err != nil {
		return nil, wrapErr(err, "open")
	}
	defer m.release(need)
	src, err := m.bucket.Open(ctx, v.Prefix+v.Renditions[i].Name)
	if errors.Is(err, storage.ErrNotFound) {
		// The version was replaced since its record was read.
		return nil, renditionNotFound(userID, v.ID, size)
	}
	if err != nil {
		return nil, wrapErr(err, "open size %d", size)
	}
	data, err := io.ReadAll(src)
	src.Close()
	if err != nil {
		return nil, wrapErr(err, "open")
	}
	e, err := imaging.Rescale(ctx, m.cpu, data, size, m.cfg.quality)
	if err != nil {
		return nil, wrapErr(err, "rescale")
	}
	_, err = m.bucket.Put(ctx, key, bytes.NewReader(e.Data), &storage.PutOptions{ContentType: e.ContentType, IfAbsent: true})
	if err != nil && !errors.Is(err, storage.ErrPrecondition) {
		return nil, wrapErr(err, "store")
	}
	b, err := open()
	if err != nil {
		return nil, wrapErr(err, "open size %d", size)
	}
	return b, nil
}

// webpType is the media type of WebP renditions.
const webpType = webpenc.ContentType

// storedBlob returns r, the on-demand rendition or WebP stored at key, as
// the Blob of size in v, with its dimensions read from its header by
// config. It closes r when it fails.
func storedBlob(r storage.Reader, key string, v *version, size int, contentType, etag string, config func(io.Reader) (image.Config, error)) (*Blob, error) {
	c, err := config(r)
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("the stored rendition %s is unreadable: %w", key, err)
	}
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		r.Close()
		return nil, err
	}
	return &Blob{ReadSeekCloser: r, ModTime: v.Created, Rendition: Rendition{
		Size: size, Width: c.Width, Height: c.Height, ContentType: contentType, Bytes: r.Attrs().Size, ETag: etag,
	}}, nil
}

// openWebP opens the WebP of size in v, making it first if it is not
// stored yet.
func (m *Manager) openWebP(ctx context.Context, userID string, v *version, size int) (*Blob, error) {
	if !slices.ContainsFunc(v.Renditions, func(b blob) bool { return b.Size == size }) && !slices.Contains(m.cfg.onDemand, size) {
		return nil, renditionNotFound(userID, v.ID, size)
	}
	key := v.Prefix + "w" + strconv.Itoa(size)
	etag := etagOf(v.ID+"/"+webpType, size)
	open := func() (*Blob, error) {
		r, err := m.bucket.Open(ctx, key)
		if err != nil {
			return nil, err
		}
		a := r.Attrs()
		if a.Size == int64(len(noWebPMarker)) {
			head, err := io.ReadAll(r)
			r.Close()
			if err != nil {
				return nil, err
			}
			if bytes.Equal(head, noWebPMarker) {
				return nil, errNoWebP
			}
			return nil, fmt.Errorf("the stored rendition %s is unreadable: %d bytes", key, len(head))
		}
		return storedBlob(r, key, v, size, webpType, etag, webp.DecodeConfig)
	}
	if b, err := open(); err == nil || errors.Is(err, errNoWebP) {
		return b, err
	} else if !errors.Is(err, storage.ErrNotFound) {
		return nil, wrapErr(err, "open size %d", size)
	}
	made, err := m.makeWebP(ctx, userID, v, size)
	if err != nil {
		return nil, err
	}
	m.cfg.log.LogAttrs(ctx, slog.LevelDebug, "photo: WebP rendition judged", slog.String("user", userID), slog.String("version", v.ID),
		slog.Int("size", size), slog.Bool("webp", made.data != nil), slog.Int("bytes", len(made.data)), slog.Int("quality", made.quality),
		slog.Int("encodes", made.encodes), slog.Float64("ssim", made.ssim), slog.Float64("stored_ssim", made.storedSSIM))
	data, typ := made.data, webpType
	if data == nil {
		// The decision is stored too, so that it is made once.
		data, typ = noWebPMarker, "application/octet-stream"
	}
	_, err = m.bucket.Put(ctx, key, bytes.NewReader(data), &storage.PutOptions{ContentType: typ, IfAbsent: true})
	if err != nil && !errors.Is(err, storage.ErrPrecondition) {
		return nil, wrapErr(err, "store")
	}
	b, err := open()
	if errors.Is(err, errNoWebP) {
		return nil, err
	}
	if errors.Is(err, storage.ErrNotFound) {
		// The version went while the WebP was made.
		return nil, renditionNotFound(userID, v.ID, size)
	}
	if err != nil {
		return nil, wrapErr(err, "open size %d", size)
	}
	return b, nil
}

// errNoWebP is makeWebP's verdict, stored as noWebPMarker, when no WebP
// of a size is both smaller than the stored rendition and as close to
// the pixels they are both made from: WebP clients get the stored format.
var errNoWebP = errors.New("no WebP is smaller and as good as the stored rendition")

// noWebPMarker is what a size's WebP key holds when errNoWebP is the
// verdict: under the version's prefix, so it goes with the version, and
// written IfAbsent as a WebP is, so that concurrent first requests agree.
// No WebP is this short (its RIFF and VP8 headers alone are longer).
var noWebPMarker = []byte("no WebP\n")

// WebP qualities makeWebP tries: from Options.WebPQuality up by
// webpQualityStep while below webpMaxQuality, at most webpMaxEncodes
// encodes.
const (
	webpQualityStep = 3
	webpMaxQuality  = 98
	webpMaxEncodes  = 4
)

// webpMade is makeWebP's outcome: the WebP (nil when none is smaller and
// as close as the stored rendition), the quality of the last encode, the
// encodes made, and the SSIM of the last WebP and of the stored
// rendition against the pixels the encoder was given.
type webpMade struct {
	data             []byte
	quality, encodes int
	ssim, storedSSIM float64
}

// makeWebP makes the WebP of size in v and judges it against the stored
// rendition of size (made first if it is an on-demand size). A PNG
// rendition gets a lossless WebP of its own pixels (losslessWebP). A
// JPEG one gets a lossy WebP from the smallest stored rendition at least
// twice its side (webpSource) or, when there is none (the largest
// sizes), from the version's normalised original rendered as Set
// rendered the rendition (webpFromOriginal), when its square is at
// least twice the side too; else it returns errOriginalUnfit.
//
// A lossy WebP is kept only when it is smaller than the stored rendition
// and at least as close to the pixels the encoder was given (SSIM of
// luma, internal/quality): those pixels are the rendition resampled from
// a source twice as large, close to the pixels Set encoded (within
// 0.001 of SSIM for photos, measured), so they stand for them. It is
// encoded at Options.WebPQuality first and, while not as close, at
// qualities webpQualityStep higher (webpMaxEncodes encodes at most), and
// given up as soon as one is not smaller. made.data is nil when no WebP
// qualified.
func (m *Manager) makeWebP(ctx context.Context, userID string, v *version, size int) (*webpMade, error) {
	if len(v.Renditions) == 0 {
		return nil, renditionNotFound(userID, v.ID, size)
	}
	stored, isPNG, err := m.storedRendition(ctx, userID, v, size)
	if err != nil {
		return nil, err
	}
	made := &webpMade{}
	if isPNG {
		err = m.losslessWebP(ctx, stored, made)
	} else {
		enc := m.webpEncoder(ctx, stored, made)
		src, side := webpSource(v.Renditions, size)
		if src.Width < 2*side {
			err = m.webpFromOriginal(ctx, userID, v, side, enc)
		} else {
			err = m.webpFromRendition(ctx, userID, v, src, side, enc)
		}
	}
	if err != nil && !errors.Is(err, errNoWebP) {
		return nil, err
	}
	return made, nil
}

// storedRendition reads the stored rendition of size in v (made first
// if it is an on-demand size not stored yet), and whether it is a PNG.
func (m *Manager) storedRendition(ctx context.Context, userID string, v *version, size int) ([]byte, bool, error) {
	b, err := m.openVersion(ctx, userID, v, size, false)
	if err != nil {
		return nil, false, err
	}
	defer b.Close()
	data, err := io.ReadAll(b.ReadSeekCloser)
	if err != nil {
		return nil, false, wrapErr(err, "open size %d", size)
	}
	return data, b.Rendition.ContentType == "image/png", nil
}

// webpFromRendition runs enc on src, a stored rendition of v at least
// twice side, resampled to side, while it holds the memory this takes.
func (m *Manager) webpFromRendition(ctx context.Context, userID string, v *version, src blob, side int, enc imaging.Encoder) error {
	need := webpFromRenditionFootprint(src, side)
	if err := m.acquire(ctx, need); err != nil {
		return wrapErr(err, "open")
	}
	defer m.release(need)
	r, err := m.bucket.Open(ctx, v.Prefix+src.Name)
	if errors.Is(err, storage.ErrNotFound) {
		// The version was replaced since its record was read.
		return renditionNotFound(userID, v.ID, side)
	}
	if err != nil {
		return wrapErr(err, "open size %d", src.Size)
	}
	data, err := io.ReadAll(r)
	r.Close()
	if err != nil {
		return wrapErr(err, "open")
	}
	if _, err := imaging.RescaleWith(ctx, data, side, imaging.Spec{Pool: m.cpu, Encoder: enc}); err != nil {
		return wrapErr(err, "encode WebP")
	}
	return nil
}

// sameVisible reports whether d, a lossless WebP of a decoded, shows a:
// the same alpha everywhere and the same colour wherever it is opaque;
// under partial alpha the decoder premultiplies (truncating), so a
// colour may come back off by that (at most 255/alpha, plus one);
// under none it may differ freely.
func sameVisible(a, d *image.NRGBA) bool {
	if a.Rect.Size() != d.Rect.Size() {
		return false
	}
	w, h := a.Rect.Dx(), a.Rect.Dy()
	for y := range h {
		ra, rd := a.Pix[a.PixOffset(a.Rect.Min.X, a.Rect.Min.Y+y):][:4*w], d.Pix[d.PixOffset(d.Rect.Min.X, d.Rect.Min.Y+y):][:4*w]
		for i := 0; i < len(ra); i += 4 {
			al := int(ra[i+3])
			if al != int(rd[i+3]) {
				return false
			}
			if al == 0 {
				continue
			}
			tol := 0
			if al < 255 {
				tol = 255/al + 1
			}
			for c := range 3 {
				if diff := int(ra[i+c]) - int(rd[i+c]); diff > tol || -diff > tol {
					return false
				}
			}
		}
	}
	return true
}

// losslessWebP makes the WebP of a PNG rendition, stored: the stored
// pixels themselves, encoded losslessly (a lossy WebP is never as close
// as a PNG), kept when smaller and when its pixels, decoded, are the
// stored ones (sameVisible), while it holds the memory and a CPU slot
// this takes.
func (m *Manager) losslessWebP(ctx context.Context, stored []byte, made *webpMade) error {
	cfg, err := png.DecodeConfig(bytes.NewReader(stored))
	if err != nil {
		return wrapErr(err, "decode the stored rendition")
	}
	w, h := cfg.Width, cfg.Height
	need := losslessWebPFootprint(w, h)
	if err := m.acquire(ctx, need); err != nil {
		return wrapErr(err, "open")
	}
	defer m.release(need)
	if err := m.cpu.Acquire(ctx); err != nil {
		return err
	}
	defer m.cpu.Release()
	img, err := png.Decode(bytes.NewReader(stored))
	if err != nil {
		return wrapErr(err, "decode the stored rendition")
	}
	n, ok := img.(*image.NRGBA)
	if !ok {
		n = image.NewNRGBA(img.Bounds())
		draw.Draw(n, n.Rect, img, n.Rect.Min, draw.Src)
	}
	data, err := webpenc.EncodeLossless(ctx, n)
	if err != nil {
		return wrapErr(err, "encode WebP")
	}
	made.encodes, made.storedSSIM = 1, 1
	if len(data) >= len(stored) {
		return errNoWebP
	}
	d, err := webpenc.Decode(data)
	if err != nil {
		return wrapErr(err, "decode WebP")
	}
	made.ssim = quality.SSIM(quality.Luma(n), quality.Luma(d))
	if !sameVisible(n, d) {
		return errNoWebP
	}
	made.data = data
	return nil
}

// webpFromRenditionFootprint estimates the bytes webpFromRendition
// allocates: decoding src (a JPEG), the pipeline's work on it (as
// openOnDemand), one encoder, given 4:2:0 planes (the encodes follow
// each other), and the comparisons with the stored rendition.
func webpFromRenditionFootprint(src blob, side int) int64 {
	return 20*int64(src.Width)*int64(src.Height) + webpenc.Footprint(side, side, false) + webpCheckFootprint(side) + 1<<20
}

// losslessWebPFootprint estimates the bytes losslessWebP allocates for a
// w x h PNG: decoding it (NRGBA and its rows), its copy for the encoder,
// the encoder and the comparison.
func losslessWebPFootprint(w, h int) int64 {
	return 12*int64(w)*int64(h) + webpenc.LosslessFootprint(w, h) + webpCheckFootprint(max(w, h)) + 1<<20
}

// webpCheckFootprint estimates the bytes that comparing WebPs of side
// with the stored rendition allocates beyond the encoder's: the stored
// rendition decoded (a PNG as NRGBA with its rows, 8 bytes a pixel at
// most), three luma planes (4 bytes a pixel each) and a WebP decode.
func webpCheckFootprint(side int) int64 {
	return 20*int64(side)*int64(side) + webpenc.DecodeFootprint(side, side)
}

// webpEncoder is the imaging.Encoder of WebP renditions that stored, the
// JPEG or PNG rendition of the same size, must be beaten by: see
// makeWebP. It records its outcome in made and returns errNoWebP when no
// WebP qualified.
func (m *Manager) webpEncoder(ctx context.Context, stored []byte, made *webpMade) imaging.Encoder {
	start := m.cfg.webpQuality
	return func(img image.Image, _ bool) ([]byte, string, error) {
		ref := quality.Luma(img)
		s, _, err := image.Decode(bytes.NewReader(stored))
		if err != nil {
			return nil, "", fmt.Errorf("decode the stored rendition: %w", err)
		}
		if s.Bounds().Size() != img.Bounds().Size() {
			return nil, "", fmt.Errorf("the stored rendition is %v, the WebP %v", s.Bounds().Size(), img.Bounds().Size())
		}
		made.storedSSIM = quality.SSIM(ref, quality.Luma(s))
		s = nil
		for i := range webpMaxEncodes {
			q := start + i*webpQualityStep
			if i > 0 && q > webpMaxQuality {
				break
			}
			data, err := webpenc.Encode(ctx, img, q)
			if err != nil {
				return nil, "", err
			}
			made.quality, made.encodes = q, i+1
			if len(data) >= len(stored) {
				break // higher qualities are larger still
			}
			d, err := webpenc.Decode(data)
			if err != nil {
				return nil, "", err
			}
			made.ssim = quality.SSIM(ref, quality.Luma(d))
			if made.ssim >= made.storedSSIM {
				made.data = data
				return data, webpType, nil
			}
		}
		return nil, "", errNoWebP
	}
}

// errOriginalUnfit is webpFromOriginal's error when the version's
// original cannot serve: its square is smaller than the side wanted, or it
// is not an image the Manager's limits pass.
var errOriginalUnfit = errors.New("the original cannot serve the rendition")

// webpFromOriginal makes the WebP rendition of side (the side of the
// version's stored rendition) from v's normalised original, or returns
// errOriginalUnfit when the original's square is smaller than twice side
// or the original cannot be judged again (then nothing was decoded).
func (m *Manager) webpFromOriginal(ctx context.Context, userID string, v *version, side int, enc imaging.Encoder) error {
	crop, ok := originalSquare(v, 2*side)
	if !ok {
		return errOriginalUnfit
	}
	r, err := m.bucket.Open(ctx, v.Prefix+v.Original.Name)
	if errors.Is(err, storage.ErrNotFound) {
		// The version was replaced since its record was read.
		return renditionNotFound(userID, v.ID, side)
	}
	if err != nil {
		return wrapErr(err, "open the original")
	}
	data, err := io.ReadAll(r)
	r.Close()
	if err != nil {
		return wrapErr(err, "open the original")
	}
	_, err = m.renderFromOriginal(ctx, data, crop, fitOf(v.Fit), side, enc)
	return err
}

// renderFromOriginal renders the square rendition of side from data, a
// version's normalised original, with Set's pipeline and geometry (m.spec:
// the crop box, in the original's pixels, else fit with the Manager's
// background, transparent for images with transparency) and enc as its
// encoder, while it holds the memory it estimates (decode, pipeline,
// encoder) and a CPU slot. Only the rendition is made, not the original
// again. It returns errOriginalUnfit when data is not an image the
// Manager's limits pass (nothing is decoded then), or the rendition would
// be smaller than side.
func (m *Manager) renderFromOriginal(ctx context.Context, data []byte, crop *Crop, fit Fit, side int, enc imaging.Encoder) ([]byte, error) {
	src, format, spec, need, err := m.planFromOriginal(data, crop, fit, side, enc)
	if err != nil {
		return nil, err
	}
	if err := m.acquire(ctx, need); err != nil {
		return nil, wrapErr(err, "open")
	}
	defer m.release(need)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if src.rows == nil {
		if src.img, err = decode(format, data, src, m.cpu); err != nil {
			return nil, wrapErr(err, "decode the original")
		}
	}
	res, err := renderSource(ctx, src, spec)
	if err != nil {
		return nil, wrapErr(err, "encode WebP")
	}
	e := res.Renditions[0]
	if e.Width != side || e.Height != side {
		// A square smaller than originalSquare judged from the record.
		return nil, errOriginalUnfit
	}
	return e.Data, nil
}

// planFromOriginal judges data for renderFromOriginal and returns the
// source (not decoded yet), its format, the spec of the rendition and the
// bytes that decoding and rendering it with a WebP encoder allocate:
// Set's estimate (footprint) for the original's decode and a pipeline that
// makes this rendition alone, and the WebP encoder's memory.
func (m *Manager) planFromOriginal(data []byte, crop *Crop, fit Fit, side int, enc imaging.Encoder) (*source, imgcheck.Format, imaging.Spec, int64, error) {
	src, format, err := prepareSource(data, m.cfg.limits)
	if err != nil {
		return nil, format, imaging.Spec{}, 0, fmt.Errorf("%w: %w", errOriginalUnfit, err)
	}
	if crop != nil && crop.check(src.width, src.height) != nil {
		return nil, format, imaging.Spec{}, 0, errOriginalUnfit
	}
	spec := m.spec(src, crop, fit)
	spec.Sizes = []int{side}
	spec.NoOriginal = true
	spec.Encoder = enc
	// A PNG original (transparency) renders as RGBA, given to the encoder
	// as NRGBA.
	rgba := format == imgcheck.PNG
	return src, format, spec, footprint(format, data, src, spec) + webpenc.Footprint(side, side, rgba) + webpCheckFootprint(side), nil
}

// originalSquare returns the crop box (nil for the fit) that renders v's
// square from its normalised original, and whether that square has at
// least side pixels a side. v's crop box is in the upright upload's
// coordinates (v.Width by v.Height); the original is that image scaled to
// v.Original's size, so the box is scaled by the same ratio, rounded to
// the nearest pixel, and kept square and inside.
func originalSquare(v *version, side int) (*Crop, bool) {
	ow, oh := v.Original.Width, v.Original.Height
	if ow <= 0 || oh <= 0 || v.Width <= 0 || v.Height <= 0 || side <= 0 {
		return nil, false
	}
	if v.Crop == nil {
		sq := max(ow, oh)
		if fitOf(v.Fit) == Cover {
			sq = min(ow, oh)
		}
		return nil, sq >= side
	}
	scale := func(x, from, to int) int { return int((2*int64(x)*int64(to) + int64(from)) / (2 * int64(from))) }
	s := min(scale(v.Crop.Size, v.Width, ow), ow, oh)
	c := &Crop{
		X:    min(scale(v.Crop.X, v.Width, ow), ow-s),
		Y:    min(scale(v.Crop.Y, v.Height, oh), oh-s),
		Size: s,
	}
	return c, s >= side
}

// webpPays reports whether a WebP of size in v is tried at all: always
// for PNG renditions (their lossless WebP is made from themselves), and
// for JPEG ones whether a source at least twice its side exists, a
// stored rendition or the normalised original's square. Measured (webpquality_test.go), a WebP
// made from such a source is as close to the unencoded pixels as one
// encoded from them (SSIM within 0.001), so makeWebP's comparison with
// the stored rendition holds for the pixels Set encoded. Made from a
// smaller source, as the largest size of most photos would be, it
// re-encodes JPEG artefacts, and the pixels it is given are no reference
// for the stored rendition (which is that source, or nearly): those
// sizes are served in their stored format, to WebP clients too.
func webpPays(v *version, size int) bool {
	if len(v.Renditions) == 0 {
		return false
	}
	if v.Renditions[0].ContentType == "image/png" {
		return true // lossless, from the stored rendition itself
	}
	src, side := webpSource(v.Renditions, size)
	if src.Width >= 2*side {
		return true
	}
	_, ok := originalSquare(v, 2*side)
	return ok
}

// webpSource returns the rendition to make the WebP of size from, among
// renditions (ascending, not empty), and the WebP's side: size, or less
// when the photo was too small for it (every rendition is then the
// square's side). It prefers the smallest rendition four times the side,
// whose JPEG artefacts resampling averages out more (a closer reference
// for makeWebP's judgement: measured, the stored JPEG's SSIM against it
// moved from 0.0036 to 0.0018 off its SSIM against the unencoded pixels,
// on a generated photo at 64 pixels), then twice, then the largest.
func webpSource(renditions []blob, size int) (src blob, side int) {
	largest := renditions[len(renditions)-1]
	side = size
	if largest.Width < largest.Size {
		side = min(size, largest.Width)
	}
	for _, k := range []int{4, 2} {
		if i := slices.IndexFunc(renditions, func(b blob) bool { return b.Width >= k*side }); i >= 0 {
			return renditions[i], side
		}
	}
	return largest, side
}

// etagOf makes a strong ETag for an on-demand rendition: the pipeline is
// deterministic, so its bytes are a function of the version and the size.
func etagOf(versionID string, size int) string {
	sum := sha256.Sum256([]byte(versionID + "/" + strconv.Itoa(size)))
	return hex.EncodeToString(sum[:16])
}
