package httpadapter

import (
	"net/http"
	"slices"
	"strconv"
	"sync"
	"testing"

	"github.com/profilephoto/photo"
)

// wantVersions checks a versions body: the IDs in order, the first
// current, each with its renditions' URLs and its created time.
func wantVersions(e *testEnv, user string, ids ...string) func(*testing.T, *http.Response, []byte) {
	return func(t *testing.T, res *http.Response, body []byte) {
		t.Helper()
		b := decodeJSON[versionsBody](t, body)
		var got []string
		for i, v := range b.Versions {
			got = append(got, v.VersionID)
			if v.Current != (i == 0) || v.Created.IsZero() || len(v.Renditions) == 0 || v.Original == nil {
				t.Errorf("version %d: %+v, want current %v, created, renditions and original", i, v, i == 0)
				continue
			}
			l := v.Renditions[len(v.Renditions)-1]
			if v.URL != l.URL || v.Width != l.Width || v.Height != l.Height ||
				l.URL != e.URL+"/photos/"+user+"/"+v.VersionID+"/"+strconv.Itoa(l.Size) {
				t.Errorf("version %s: url %s %dx%d, want the largest rendition %+v", v.VersionID, v.URL, v.Width, v.Height, l)
			}
		}
		if b.UserID != user || !slices.Equal(got, ids) {
			t.Errorf("versions of %q: %q, want %q", b.UserID, got, ids)
		}
	}
}

// TestProfileImageHistory lists, restores and deletes versions through
// the profile-image routes, with photo.Options.KeepVersions 2.
func TestProfileImageHistory(t *testing.T) {
	e := newTestEnv(t, envConfig{Photo: &photo.Options{KeepVersions: 2, Sizes: []int{16, 64}}})
	var ps []*photo.Photo
	for i := range 4 {
		ps = append(ps, e.setPhoto(t, "alice", jpegImage(t, 40+i, 30)))
	}
	a, b, c, d := ps[0].VersionID, ps[1].VersionID, ps[2].VersionID, ps[3].VersionID
	versions := piURL("alice") + "/versions"
	url := func(id string) string { return "/photos/alice/" + id + "/64" }
	auth := map[string]string{"Authorization": bearerAlice}
	var etagB string
	runTests(t, e, []httpTest{
		{Name: "no credentials", URL: versions, Code: 401, Check: wantCode("unauthorized")},
		{Name: "another user", URL: versions, ReqHeader: map[string]string{"Authorization": bearerBob}, Code: 403, Check: wantCode("forbidden")},
		{Name: "admin lists", URL: versions, ReqHeader: map[string]string{"Authorization": bearerAdmin}, Code: 200, Check: wantVersions(e, "alice", d, c, b)},
		{Name: "no photo", URL: piURL("carol") + "/versions", ReqHeader: map[string]string{"Authorization": bearerAdmin}, Code: 404, Check: wantCode("not-found")},
		{Name: "the oldest is dropped", URL: url(a), Code: 404},
		{Name: "a kept version serves", URL: url(b), Code: 200, ResHeader: map[string]string{"ETag": "*"},
			Check: func(t *testing.T, res *http.Response, _ []byte) { etagB = res.Header.Get("ETag") }},
		{Name: "restore unknown", Method: "POST", URL: versions + "/aaaaaaaaaaaaaaaa/restore", ReqHeader: auth, Code: 404, Check: wantCode("not-found")},
		{Name: "restore dropped", Method: "POST", URL: versions + "/" + a + "/restore", ReqHeader: auth, Code: 404, Check: wantCode("not-found")},
		{Name: "restore stale", Method: "POST", URL: versions + "/" + b + "/restore",
			ReqHeader: map[string]string{"Authorization": bearerAlice, "If-Match": photoETag(ps[2])}, Code: 409, Check: wantCode("conflict")},
		{Name: "restore by another user", Method: "POST", URL: versions + "/" + b + "/restore",
			ReqHeader: map[string]string{"Authorization": bearerBob}, Code: 403},
		{Name: "restore", Method: "POST", URL: versions + "/" + b + "/restore",
			ReqHeader: map[string]string{"Authorization": bearerAlice, "If-Match": photoETag(ps[3])}, Code: 200,
			ResHeader: map[string]string{"ETag": photoETag(&photo.Photo{Revision: ps[3].Revision + 1})},
			Check: func(t *testing.T, res *http.Response, body []byte) {
				if got := decodeJSON[imageBody](t, body); got.VersionID != b {
					t.Errorf("restored version %s, want %s", got.VersionID, b)
				}
				wantImage(e, "alice")(t, res, body)
			}},
		{Name: "the restored URL is the same", URL: url(b), Code: 200,
			Check: func(t *testing.T, res *http.Response, _ []byte) {
				if res.Header.Get("ETag") != etagB {
					t.Errorf("ETag %s, want %s", res.Header.Get("ETag"), etagB)
				}
			}},
		{Name: "listed after restore", URL: versions, ReqHeader: auth, Code: 200, Check: wantVersions(e, "alice", b, d, c)},
		{Name: "delete the current version", Method: "DELETE", URL: versions + "/" + b, ReqHeader: auth, Code: 409, Check: wantCode("conflict")},
		{Name: "delete stale", Method: "DELETE", URL: versions + "/" + d,
			ReqHeader: map[string]string{"Authorization": bearerAlice, "If-Match": photoETag(ps[3])}, Code: 409, Check: wantCode("conflict")},
		{Name: "delete by another user", Method: "DELETE", URL: versions + "/" + d, ReqHeader: map[string]string{"Authorization": bearerBob}, Code: 403},
		{Name: "delete a kept version", Method: "DELETE", URL: versions + "/" + d, ReqHeader: auth, Code: 204},
		{Name: "the deleted version is gone", URL: url(d), Code: 404},
		{Name: "delete it again", Method: "DELETE", URL: versions + "/" + d, ReqHeader: auth, Code: 404, Check: wantCode("not-found")},
		{Name: "listed after delete", URL: versions, ReqHeader: auth, Code: 200, Check: wantVersions(e, "alice", b, c)},
		{Name: "delete the photo", Method: "DELETE", URL: piURL("alice"), ReqHeader: auth, Code: 204},
		{Name: "every version is gone", URL: url(c), Code: 404},
		{Name: "nothing listed", URL: versions, ReqHeader: auth, Code: 404},
	})
	if objs := e.Store.list(t, "users/"); len(objs) != 1 {
		t.Errorf("%d objects left under users/, want the record alone: %v", len(objs), objs)
	}
}

// TestProfileImageHistoryOff checks the routes with the default
// KeepVersions, 0: only the current version is listed and the replaced
// one is gone.
func TestProfileImageHistoryOff(t *testing.T) {
	e := newTestEnv(t, envConfig{Photo: &photo.Options{Sizes: []int{16, 64}}})
	first := e.setPhoto(t, "alice", jpegImage(t, 40, 30))
	second := e.setPhoto(t, "alice", jpegImage(t, 41, 30))
	versions := piURL("alice") + "/versions"
	auth := map[string]string{"Authorization": bearerAlice}
	runTests(t, e, []httpTest{
		{Name: "only the current", URL: versions, ReqHeader: auth, Code: 200, Check: wantVersions(e, "alice", second.VersionID)},
		{Name: "the replaced one is gone", URL: "/photos/alice/" + first.VersionID + "/64", Code: 404},
		{Name: "nothing to restore", Method: "POST", URL: versions + "/" + first.VersionID + "/restore", ReqHeader: auth, Code: 404},
		{Name: "restoring the current changes nothing", Method: "POST", URL: versions + "/" + second.VersionID + "/restore", ReqHeader: auth, Code: 200,
			ResHeader: map[string]string{"ETag": photoETag(second)}},
	})
}

// TestProfileImageHistoryRace sends two restores with the same If-Match at
// once: one wins, the other gets 409, and both versions stay listed and
// served.
func TestProfileImageHistoryRace(t *testing.T) {
	e := newTestEnv(t, envConfig{Photo: &photo.Options{KeepVersions: 3, Sizes: []int{16, 64}}})
	var ps []*photo.Photo
	for i := range 3 {
		ps = append(ps, e.setPhoto(t, "alice", jpegImage(t, 40+i, 30)))
	}
	codes := make([]int, 2)
	var wg sync.WaitGroup
	for i := range 2 {
		req, err := http.NewRequest("POST", e.URL+piURL("alice")+"/versions/"+ps[i].VersionID+"/restore", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", bearerAlice)
		req.Header.Set("If-Match", photoETag(ps[2]))
		wg.Go(func() {
			// Not e.do: it may call t.Fatal, which only the test's own
			// goroutine may.
			res, err := e.Client.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			res.Body.Close()
			codes[i] = res.StatusCode
		})
	}
	wg.Wait()
	slices.Sort(codes)
	if !slices.Equal(codes, []int{200, 409}) {
		t.Errorf("two restores at one revision answered %v, want 200 and 409", codes)
	}
	p := e.getPhoto(t, "alice")
	got := []string{p.VersionID}
	for _, h := range p.History {
		got = append(got, h.VersionID)
	}
	if len(got) != 3 || !slices.Contains(got, ps[0].VersionID) || !slices.Contains(got, ps[1].VersionID) || !slices.Contains(got, ps[2].VersionID) {
		t.Errorf("after the race the versions are %q, want the three set", got)
	}
	for _, id := range got {
		if res, _ := e.do(t, "GET", "/photos/alice/"+id+"/64", nil, nil, false); res.StatusCode != 200 {
			t.Errorf("version %s answers %d", id, res.StatusCode)
		}
	}
}
