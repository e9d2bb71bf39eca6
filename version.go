package photo

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"strings"
)

// pipelineVersion is mixed into every version ID. Bump it whenever the
// bytes the pipeline makes from the same input change, so that caches keyed
// by version never serve stale bytes.
const pipelineVersion = 2

var b32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// versionID derives a short, URL-safe ID from the upload's digest and every
// setting that changes the output: the same upload with the same crop and
// settings always gets the same ID, and any change gets a new one.
func versionID(sum [32]byte, crop *Crop, fit Fit, cfg *config) string {
	h := sha256.New()
	h.Write(sum[:])
	var buf []byte
	buf = binary.AppendVarint(buf, pipelineVersion)
	if crop != nil {
		buf = append(buf, 'c')
		buf = binary.AppendVarint(buf, int64(crop.X))
		buf = binary.AppendVarint(buf, int64(crop.Y))
		buf = binary.AppendVarint(buf, int64(crop.Size))
	} else {
		buf = append(buf, 'f')
		buf = binary.AppendVarint(buf, fit.fitHash())
	}
	buf = binary.AppendVarint(buf, int64(cfg.quality))
	buf = binary.AppendVarint(buf, int64(cfg.originalMaxSide))
	buf = append(buf, cfg.background.R, cfg.background.G, cfg.background.B, cfg.background.A)
	for _, s := range cfg.sizes {
		buf = binary.AppendVarint(buf, int64(s))
	}
	h.Write(buf)
	return b32.EncodeToString(h.Sum(nil)[:10]) // 16 characters, 80 bits
}

// newNonce returns a random, URL-safe token of n bytes of entropy.
func newNonce(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return b32.EncodeToString(b)
}

// isVersionID reports whether s could be a version ID.
func isVersionID(s string) bool {
	return len(s) == 16 && strings.Trim(s, "abcdefghijklmnopqrstuvwxyz234567") == ""
}
