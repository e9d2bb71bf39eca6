package photo

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	"io"
	"slices"
	"strconv"
	"time"

	"golang.org/x/image/webp"

	"github.com/profilephoto/photo/internal/imaging"
	"github.com/profilephoto/photo/internal/imgcheck"
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
// for images with transparency), or "image/webp" for WebP (lossy, with
// alpha where the stored rendition has it); any other is an error
// CodeBadArgument. Blob.Rendition.ContentType says what was opened: the
// normalised original (size 0) is always the stored one, and so is every
// size when Options.WebPQuality turns WebP off, and every size without a
// source at least twice its side (the largest sizes of most photos; a
// WebP made from less loses to the JPEG in quality), since a WebP is
// served only where it is both smaller and as good. A WebP has its own
// ETag.
//
// A WebP is made on its first request and stored beside the JPEG or PNG
// under the version's prefix (so it goes when the version goes), not by
// Set: Set's latency is what uploads wait for, most renditions are never
// asked for as WebP, and a WebP made later from a stored rendition (or the
// normalised original) twice as large is as good as one made by Set.
// Concurrent first requests may each encode it; the store keeps the first
// write (IfAbsent) and every request serves those bytes.
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
		if !errors.Is(err, errOriginalUnfit) {
			return b, err
		}
		// The original turned out unable to serve: the stored format.
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
		a := r.Attrs()
		c, _, err := image.DecodeConfig(r)
		if err != nil {
			r.Close()
			return nil, fmt.Errorf("the stored rendition %s is unreadable: %w", key, err)
		}
		if _, err := r.Seek(0, io.SeekStart); err != nil {
			r.Close()
			return nil, err
		}
		return &Blob{ReadSeekCloser: r, ModTime: v.Created, Rendition: Rendition{
			Size: size, Width: c.Width, Height: c.Height, ContentType: a.ContentType, Bytes: a.Size, ETag: etagOf(v.ID, size),
		}}, nil
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
		c, err := webp.DecodeConfig(r)
		if err != nil {
			r.Close()
			return nil, fmt.Errorf("the stored rendition %s is unreadable: %w", key, err)
		}
		if _, err := r.Seek(0, io.SeekStart); err != nil {
			r.Close()
			return nil, err
		}
		return &Blob{ReadSeekCloser: r, ModTime: v.Created, Rendition: Rendition{
			Size: size, Width: c.Width, Height: c.Height, ContentType: webpType, Bytes: a.Size, ETag: etag,
		}}, nil
	}
	if b, err := open(); err == nil {
		return b, nil
	} else if !errors.Is(err, storage.ErrNotFound) {
		return nil, wrapErr(err, "open size %d", size)
	}
	data, err := m.makeWebP(ctx, userID, v, size)
	if err != nil {
		return nil, err
	}
	_, err = m.bucket.Put(ctx, key, bytes.NewReader(data), &storage.PutOptions{ContentType: webpType, IfAbsent: true})
	if err != nil && !errors.Is(err, storage.ErrPrecondition) {
		return nil, wrapErr(err, "store")
	}
	b, err := open()
	if errors.Is(err, storage.ErrNotFound) {
		// The version went while the WebP was made.
		return nil, renditionNotFound(userID, v.ID, size)
	}
	if err != nil {
		return nil, wrapErr(err, "open size %d", size)
	}
	return b, nil
}

// makeWebP encodes the WebP of size in v, from the smallest stored
// rendition at least twice its side or, when there is none (the largest
// sizes), from the version's normalised original rendered as Set rendered
// the rendition (webpFromOriginal), when its square is at least twice the
// side too; else it returns errOriginalUnfit. webpPays says why twice.
func (m *Manager) makeWebP(ctx context.Context, userID string, v *version, size int) ([]byte, error) {
	if len(v.Renditions) == 0 {
		return nil, renditionNotFound(userID, v.ID, size)
	}
	src, side := webpSource(v.Renditions, size)
	if src.Width < 2*side {
		return m.webpFromOriginal(ctx, userID, v, side)
	}
	// Decoding the source (4 bytes a pixel at most), the pipeline's work
	// on it (as openOnDemand) and the encoder, given NRGBA for a PNG.
	need := 20*int64(src.Width)*int64(src.Height) + webpenc.Footprint(side, side, src.ContentType == "image/png") + 1<<20
	if err := m.acquire(ctx, need); err != nil {
		return nil, wrapErr(err, "open")
	}
	defer m.release(need)
	r, err := m.bucket.Open(ctx, v.Prefix+src.Name)
	if errors.Is(err, storage.ErrNotFound) {
		// The version was replaced since its record was read.
		return nil, renditionNotFound(userID, v.ID, size)
	}
	if err != nil {
		return nil, wrapErr(err, "open size %d", src.Size)
	}
	data, err := io.ReadAll(r)
	r.Close()
	if err != nil {
		return nil, wrapErr(err, "open")
	}
	e, err := imaging.RescaleWith(ctx, data, size, imaging.Spec{Pool: m.cpu, Encoder: m.webpEncoder(ctx)})
	if err != nil {
		return nil, wrapErr(err, "encode WebP")
	}
	return e.Data, nil
}

// webpEncoder is the imaging.Encoder of WebP renditions, at
// Options.WebPQuality.
func (m *Manager) webpEncoder(ctx context.Context) imaging.Encoder {
	quality := m.cfg.webpQuality
	return func(img image.Image, _ bool) ([]byte, string, error) {
		d, err := webpenc.Encode(ctx, img, quality)
		return d, webpType, err
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
func (m *Manager) webpFromOriginal(ctx context.Context, userID string, v *version, side int) ([]byte, error) {
	crop, ok := originalSquare(v, 2*side)
	if !ok {
		return nil, errOriginalUnfit
	}
	r, err := m.bucket.Open(ctx, v.Prefix+v.Original.Name)
	if errors.Is(err, storage.ErrNotFound) {
		// The version was replaced since its record was read.
		return nil, renditionNotFound(userID, v.ID, side)
	}
	if err != nil {
		return nil, wrapErr(err, "open the original")
	}
	data, err := io.ReadAll(r)
	r.Close()
	if err != nil {
		return nil, wrapErr(err, "open the original")
	}
	return m.renderFromOriginal(ctx, data, crop, fitOf(v.Fit), side, m.webpEncoder(ctx))
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
	return src, format, spec, footprint(format, data, src, spec) + webpenc.Footprint(side, side, rgba), nil
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

// webpPays reports whether the WebP of size in v is made at all: whether
// a source at least twice its side exists, a stored rendition or the
// normalised original's square. Measured (webpquality_test.go), a WebP
// made from such a source is as close to the unencoded pixels as one
// encoded from them (SSIM within 0.001), and at the default quality it is
// smaller than Set's JPEG at equal or better SSIM and PSNR (64, 200 and
// 512 pixels: 10 to 25% smaller). Made from a smaller source, as the
// largest size of most photos would be (1024 pixels from an original of
// 1024 to 1800), it was still 10% smaller but less close than the JPEG
// (median SSIM 0.9807 against 0.9835): JPEG artefacts of its source are
// encoded again. Those sizes are served in their stored format, to WebP
// clients too, since a WebP is only worth having when it is both.
func webpPays(v *version, size int) bool {
	if len(v.Renditions) == 0 {
		return false
	}
	src, side := webpSource(v.Renditions, size)
	return src.Width >= 2*side
}

// webpSource returns the rendition to make the WebP of size from, among
// renditions (ascending, not empty), and the WebP's side: size, or less
// when the photo was too small for it (every rendition is then the
// square's side).
func webpSource(renditions []blob, size int) (src blob, side int) {
	largest := renditions[len(renditions)-1]
	side = size
	if largest.Width < largest.Size {
		side = min(size, largest.Width)
	}
	if i := slices.IndexFunc(renditions, func(b blob) bool { return b.Width >= 2*side }); i >= 0 {
		return renditions[i], side
	}
	return largest, side
}

// etagOf makes a strong ETag for an on-demand rendition: the pipeline is
// deterministic, so its bytes are a function of the version and the size.
func etagOf(versionID string, size int) string {
	sum := sha256.Sum256([]byte(versionID + "/" + strconv.Itoa(size)))
	return hex.EncodeToString(sum[:16])
}
