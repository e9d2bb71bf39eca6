package photo_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/profilephoto/photo"
	"github.com/profilephoto/photo/storage"
	"github.com/profilephoto/photo/storage/driver"
	"github.com/profilephoto/photo/storage/memstore"
)

func newHistoryManager(t *testing.T, d driver.Bucket, keep int) *photo.Manager {
	t.Helper()
	m, err := photo.New(storage.NewBucket(d), &photo.Options{
		Sizes:         backendSizes,
		OnDemandSizes: []int{},
		KeepVersions:  keep,
		Logger:        slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// historyIDs returns the version IDs that Get lists: the current one, then
// the kept ones; none when there is no photo.
func historyIDs(t *testing.T, m *photo.Manager, user string) (current string, kept []string) {
	t.Helper()
	p, err := m.Get(context.Background(), user)
	if errors.Is(err, photo.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range p.History {
		if h.Revision != p.Revision || h.Status != photo.StatusReady || h.History != nil || h.UserID != user {
			t.Errorf("kept version %s: revision %d, status %s, user %q, %d nested; want %d, ready, %q, none",
				h.VersionID, h.Revision, h.Status, h.UserID, len(h.History), p.Revision, user)
		}
		kept = append(kept, h.VersionID)
	}
	return p.VersionID, kept
}

// checkGone checks that no rendition of p opens any more.
func checkGone(t *testing.T, m *photo.Manager, p *photo.Photo) {
	t.Helper()
	for _, r := range append([]photo.Rendition{p.Original}, p.Renditions...) {
		b, err := m.OpenRendition(context.Background(), p.UserID, p.VersionID, r.Size, "")
		if err == nil {
			b.Close()
		}
		if !errors.Is(err, photo.ErrNotFound) {
			t.Errorf("version %s size %d: %v, want ErrNotFound", p.VersionID, r.Size, err)
		}
	}
}

// TestHistory runs the history's cases on every backend: each sets some
// photos with a KeepVersions, acts, and says what Get must list.
func TestHistory(t *testing.T) {
	type env struct {
		d      driver.Bucket
		m      *photo.Manager
		user   string
		photos []*photo.Photo // what each set returned, in order
	}
	set := func(t *testing.T, e *env, n int) *photo.Photo {
		t.Helper()
		p, err := e.m.Set(context.Background(), e.user, bytes.NewReader(testJPEG(t, n)), nil)
		if err != nil {
			t.Fatal(err)
		}
		e.photos = append(e.photos, p)
		return p
	}
	ids := func(e *env, idx ...int) []string {
		var out []string
		for _, i := range idx {
			out = append(out, e.photos[i].VersionID)
		}
		return out
	}
	tests := []struct {
		name string
		keep int
		sets int
		// act runs after the sets and returns the indexes (into photos)
		// of the current and kept versions that Get must list, and of the
		// versions that must be gone.
		act func(t *testing.T, e *env) (current int, kept, gone []int)
	}{
		{"keep 0 removes the replaced version", 0, 2, func(t *testing.T, e *env) (int, []int, []int) {
			return 1, nil, []int{0}
		}},
		{"keep 2 of 4 sets drops the oldest", 2, 4, func(t *testing.T, e *env) (int, []int, []int) {
			return 3, []int{2, 1}, []int{0}
		}},
		{"restore: same version ID, new revision, cached URL valid", 2, 3, func(t *testing.T, e *env) (int, []int, []int) {
			ctx := context.Background()
			// Serve the oldest first, so that the Manager caches it.
			first := e.photos[0]
			checkServed(t, e.m, first)
			before, _ := e.m.Get(ctx, e.user)
			p, err := e.m.Restore(ctx, e.user, first.VersionID, &photo.SetOptions{IfRevision: before.Revision})
			if err != nil {
				t.Fatal(err)
			}
			if p.VersionID != first.VersionID || p.Revision != before.Revision+1 || !p.Created.Equal(first.Created) {
				t.Errorf("Restore = version %s revision %d created %v; want %s, %d, %v",
					p.VersionID, p.Revision, p.Created, first.VersionID, before.Revision+1, first.Created)
			}
			b, err := e.m.OpenRendition(ctx, e.user, first.VersionID, first.Renditions[0].Size, "")
			if err != nil {
				t.Fatal(err)
			}
			b.Close()
			if b.Rendition.ETag != first.Renditions[0].ETag {
				t.Errorf("ETag %s after restore, want %s", b.Rendition.ETag, first.Renditions[0].ETag)
			}
			return 0, []int{2, 1}, nil
		}},
		{"restore with keep 1 drops the replaced current", 1, 2, func(t *testing.T, e *env) (int, []int, []int) {
			if _, err := e.m.Restore(context.Background(), e.user, e.photos[0].VersionID, nil); err != nil {
				t.Fatal(err)
			}
			return 0, []int{1}, nil
		}},
		{"restore of the current version changes nothing", 2, 2, func(t *testing.T, e *env) (int, []int, []int) {
			p, err := e.m.Restore(context.Background(), e.user, e.photos[1].VersionID, nil)
			if err != nil || p.Revision != e.photos[1].Revision {
				t.Errorf("Restore(current) = %v, %v; want revision %d", p, err, e.photos[1].Revision)
			}
			return 1, []int{0}, nil
		}},
		{"restore refusals", 2, 2, func(t *testing.T, e *env) (int, []int, []int) {
			ctx := context.Background()
			for _, c := range []struct {
				id   string
				opts *photo.SetOptions
				want photo.Code
			}{
				{"aaaaaaaaaaaaaaaa", nil, photo.ErrNotFound},
				{"not a version", nil, photo.ErrNotFound},
				{e.photos[0].VersionID, &photo.SetOptions{IfRevision: e.photos[0].Revision}, photo.ErrConflict},
				{e.photos[0].VersionID, &photo.SetOptions{Fit: photo.Cover}, photo.CodeBadArgument},
				{e.photos[0].VersionID, &photo.SetOptions{Crop: &photo.Crop{Size: 8}}, photo.CodeBadArgument},
			} {
				if _, err := e.m.Restore(ctx, e.user, c.id, c.opts); !errors.Is(err, c.want) {
					t.Errorf("Restore(%q, %+v) = %v, want %s", c.id, c.opts, err, c.want)
				}
			}
			return 1, []int{0}, nil
		}},
		{"setting a kept upload again lists it once", 3, 3, func(t *testing.T, e *env) (int, []int, []int) {
			p := set(t, e, 0)
			if p.VersionID != e.photos[0].VersionID {
				t.Fatalf("the same upload got version %s, then %s", e.photos[0].VersionID, p.VersionID)
			}
			return 3, []int{2, 1}, nil
		}},
		{"delete one kept version", 3, 3, func(t *testing.T, e *env) (int, []int, []int) {
			ctx := context.Background()
			if err := e.m.Delete(ctx, e.user, &photo.DeleteOptions{VersionID: e.photos[1].VersionID}); err != nil {
				t.Fatal(err)
			}
			for _, c := range []struct {
				opts photo.DeleteOptions
				want photo.Code
			}{
				{photo.DeleteOptions{VersionID: e.photos[1].VersionID}, photo.ErrNotFound},
				{photo.DeleteOptions{VersionID: e.photos[2].VersionID}, photo.ErrConflict},
				{photo.DeleteOptions{VersionID: e.photos[0].VersionID, IfRevision: e.photos[2].Revision}, photo.ErrConflict},
			} {
				if err := e.m.Delete(ctx, e.user, &c.opts); !errors.Is(err, c.want) {
					t.Errorf("Delete(%+v) = %v, want %s", c.opts, err, c.want)
				}
			}
			return 2, []int{0}, []int{1}
		}},
		{"delete removes the whole history", 3, 3, func(t *testing.T, e *env) (int, []int, []int) {
			if err := e.m.Delete(context.Background(), e.user, nil); err != nil {
				t.Fatal(err)
			}
			if err := e.m.Delete(context.Background(), e.user, nil); !errors.Is(err, photo.ErrNotFound) {
				t.Errorf("second Delete = %v, want ErrNotFound", err)
			}
			return -1, nil, []int{0, 1, 2}
		}},
		{"a lower KeepVersions trims at the next set", 3, 3, func(t *testing.T, e *env) (int, []int, []int) {
			e.m = newHistoryManager(t, e.d, 1)
			set(t, e, 3)
			return 3, []int{2}, []int{0, 1}
		}},
	}
	for _, be := range backends() {
		t.Run(be.name, func(t *testing.T) {
			d, _ := be.open(t)
			for i, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					e := &env{d: d, m: newHistoryManager(t, d, tc.keep), user: fmt.Sprintf("user-%d", i)}
					for n := range tc.sets {
						set(t, e, n)
					}
					current, kept, gone := tc.act(t, e)
					gotCurrent, gotKept := historyIDs(t, e.m, e.user)
					wantCurrent := ""
					if current >= 0 {
						wantCurrent = e.photos[current].VersionID
					}
					if gotCurrent != wantCurrent || !slices.Equal(gotKept, ids(e, kept...)) {
						t.Errorf("Get lists %s then %q; want %s then %q", gotCurrent, gotKept, wantCurrent, ids(e, kept...))
					}
					p, err := e.m.Get(context.Background(), e.user)
					if err == nil {
						checkServed(t, e.m, p)
						for _, h := range p.History {
							checkServed(t, e.m, &h)
						}
					}
					for _, i := range gone {
						checkGone(t, e.m, e.photos[i])
					}
				})
			}
			checkNoGarbage(t, storage.NewBucket(d))
		})
	}
}

// TestKeepVersionsBounds checks that New refuses a KeepVersions out of
// range with CodeBadArgument and takes the bounds themselves.
func TestKeepVersionsBounds(t *testing.T) {
	for _, tc := range []struct {
		keep int
		ok   bool
	}{{-1, false}, {0, true}, {100, true}, {101, false}} {
		_, err := photo.New(storage.NewBucket(memstore.New()), &photo.Options{KeepVersions: tc.keep})
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, photo.CodeBadArgument)) {
			t.Errorf("KeepVersions %d: %v, want ok %v or CodeBadArgument", tc.keep, err, tc.ok)
		}
	}
}

// TestHistorySweep checks that Sweep keeps the blobs of kept versions and
// removes orphans beside them.
func TestHistorySweep(t *testing.T) {
	for _, be := range backends() {
		t.Run(be.name, func(t *testing.T) {
			d, _ := be.open(t)
			m := newHistoryManager(t, d, 2)
			ctx := context.Background()
			var ps []*photo.Photo
			for n := range 3 {
				p, err := m.Set(ctx, "u", bytes.NewReader(testJPEG(t, n)), nil)
				if err != nil {
					t.Fatal(err)
				}
				ps = append(ps, p)
			}
			st := storage.NewBucket(d)
			parts := strings.SplitN(allKeys(t, st, "users/")[0], "/", 3)
			user := parts[0] + "/" + parts[1]
			orphans := []string{user + "/v/aaaaaaaaaaaaaaaa.bbbbbbbb/16.jpg", user + "/v/aaaaaaaaaaaaaaaa.bbbbbbbb/original.jpg"}
			for _, k := range orphans {
				if _, err := st.Put(ctx, k, strings.NewReader("x"), nil); err != nil {
					t.Fatal(err)
				}
			}
			time.Sleep(10 * time.Millisecond) // the orphans' age
			n, err := m.Sweep(ctx, time.Nanosecond)
			if err != nil || n != len(orphans) {
				t.Errorf("Sweep = %d, %v; want %d", n, err, len(orphans))
			}
			for _, p := range ps {
				checkServed(t, m, p)
			}
			checkNoGarbage(t, st)
		})
	}
}

// TestHistoryRaces races Sets and Restores of one user through two
// Managers on two handles of one store: no version is lost (KeepVersions
// holds them all), none is listed twice, every listed one is served, and
// no blob is left unreferenced.
func TestHistoryRaces(t *testing.T) {
	for _, be := range backends() {
		t.Run(be.name, func(t *testing.T) {
			sa, sb := be.open(t)
			ms := []*photo.Manager{newHistoryManager(t, sa, 10), newHistoryManager(t, sb, 10)}
			ctx := context.Background()
			const user = "racer"
			var want []string
			for n := range 2 {
				p, err := ms[0].Set(ctx, user, bytes.NewReader(testJPEG(t, n)), nil)
				if err != nil {
					t.Fatal(err)
				}
				want = append(want, p.VersionID)
			}
			first := slices.Clone(want)
			for round := range 3 {
				var wg sync.WaitGroup
				var mu sync.Mutex
				for i := range 4 {
					wg.Go(func() {
						m := ms[i%2]
						if i < 2 {
							p, err := m.Set(ctx, user, bytes.NewReader(testJPEG(t, 2+2*round+i)), nil)
							if err != nil {
								t.Error(err)
								return
							}
							mu.Lock()
							want = append(want, p.VersionID)
							mu.Unlock()
							return
						}
						if _, err := m.Restore(ctx, user, first[i-2], nil); err != nil {
							t.Error(err)
						}
					})
				}
				wg.Wait()
			}
			current, kept := historyIDs(t, ms[1], user)
			got := append([]string{current}, kept...)
			if len(got) != len(want) || len(slices.Compact(slices.Sorted(slices.Values(got)))) != len(want) {
				t.Errorf("Get lists %q; want each of %q once", got, want)
			}
			for _, id := range want {
				if !slices.Contains(got, id) {
					t.Errorf("version %s was lost", id)
				}
			}
			p, err := ms[0].Get(ctx, user)
			if err != nil {
				t.Fatal(err)
			}
			checkServed(t, ms[0], p)
			for _, h := range p.History {
				checkServed(t, ms[1], &h)
			}
			checkNoGarbage(t, storage.NewBucket(sa))

			// With the same expected revision, one restore wins.
			errs := make([]error, 2)
			var wg sync.WaitGroup
			for i := range 2 {
				wg.Go(func() {
					_, errs[i] = ms[i].Restore(ctx, user, p.History[i].VersionID, &photo.SetOptions{IfRevision: p.Revision})
				})
			}
			wg.Wait()
			if (errs[0] == nil) == (errs[1] == nil) || !errors.Is(errors.Join(errs...), photo.ErrConflict) {
				t.Errorf("two restores at revision %d: %v; want one ErrConflict", p.Revision, errs)
			}
		})
	}
}
