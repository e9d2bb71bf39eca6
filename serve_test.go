package photo_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"

	"github.com/profilephoto/photo"
)

// TestServingAfterChanges checks that a versioned rendition is served
// exactly while its version is current, whichever of two instances made
// the change, including the case where an instance remembers a version
// that was replaced and then set again (same version ID, new blobs).
func TestServingAfterChanges(t *testing.T) {
	ctx := context.Background()
	for _, be := range backends() {
		t.Run(be.name, func(t *testing.T) {
			sa, sb := be.open(t)
			a, b := newBackendManager(t, sa), newBackendManager(t, sb)
			imgA, imgB := testJPEG(t, 1), testJPEG(t, 2)
			served := func(m *photo.Manager, p *photo.Photo) error {
				bl, err := m.OpenRendition(ctx, "alice", p.VersionID, backendSizes[0])
				if err != nil {
					return err
				}
				defer bl.Close()
				data, err := io.ReadAll(bl)
				if err == nil && int64(len(data)) != bl.Rendition.Bytes {
					t.Errorf("read %d bytes, want %d", len(data), bl.Rendition.Bytes)
				}
				return err
			}
			steps := []struct {
				name    string
				change  func() *photo.Photo // nil: no change
				by      *photo.Manager
				pA, pB  bool // whether version A and B are current afterwards
				deleted bool
			}{
				{name: "a sets A", by: a, pA: true},
				{name: "b sets B", by: b, pB: true},
				{name: "a sets A again", by: a, pA: true},
				{name: "b deletes", by: b, deleted: true},
				{name: "b sets A once more", by: b, pA: true},
			}
			var verA, verB *photo.Photo
			for _, st := range steps {
				var err error
				switch {
				case st.deleted:
					err = st.by.Delete(ctx, "alice", nil)
				case st.pA:
					verA, err = st.by.Set(ctx, "alice", bytes.NewReader(imgA), nil)
				default:
					verB, err = st.by.Set(ctx, "alice", bytes.NewReader(imgB), nil)
				}
				if err != nil {
					t.Fatalf("%s: %v", st.name, err)
				}
				for _, m := range []*photo.Manager{a, b, a, b} { // twice each: cached and not
					for _, c := range []struct {
						p       *photo.Photo
						current bool
					}{{verA, st.pA}, {verB, st.pB}} {
						if c.p == nil {
							continue
						}
						err := served(m, c.p)
						switch {
						case c.current && err != nil:
							t.Errorf("after %s: version %s not served: %v", st.name, c.p.VersionID, err)
						case !c.current && !errors.Is(err, photo.ErrNotFound):
							t.Errorf("after %s: replaced version %s: got %v, want ErrNotFound", st.name, c.p.VersionID, err)
						}
					}
				}
			}
		})
	}
}
