package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	_ "image/jpeg"
	"image/png"
	"io"
	"io/fs"
	"math/rand/v2"
	"mime/multipart"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/spf13/afero"

	"github.com/profilephoto/photo"
	"github.com/profilephoto/photo/internal/s3test"
	"github.com/profilephoto/photo/storage"
	"github.com/profilephoto/photo/storage/aferostore"
	"github.com/profilephoto/photo/storage/s3store"
)

// The crash test runs photod as a separate process (this test binary run
// again, as TestCrashChildProcess), kills it with SIGKILL at a random
// moment while clients upload through every write path, restarts it, and
// checks that each user's photo is the one before or one of those being
// uploaded, complete and served. At the end, with the clock moved past
// every grace period, the janitor's clean-ups must leave nothing that no
// record references.

const (
	// crashChildEnv carries the photod arguments (JSON) to the child.
	crashChildEnv = "PHOTOD_CRASH_CHILD_ARGS"
	// crashSeedEnv overrides the seed of the kill points.
	crashSeedEnv = "PHOTOD_CRASH_SEED"
	// crashRounds is how many kills each store gets.
	crashRounds = 8
	// crashWidth and crashHeight are the smallest upload's size; each
	// upload is a little wider than the one before, each user's a
	// little taller than the one before, so that the size tells which
	// upload a photo came from.
	crashWidth, crashHeight = 160, 120
)

// TestCrashChildProcess is photod inside the crash test's child process;
// run directly it skips.
func TestCrashChildProcess(t *testing.T) {
	spec := os.Getenv(crashChildEnv)
	if spec == "" {
		t.Skip("runs only as the photod process of TestCrash")
	}
	var args []string
	if err := json.Unmarshal([]byte(spec), &args); err != nil {
		t.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, args, os.Stdout, os.Stderr); err != nil {
		t.Fatal(err)
	}
}

// crashUser is one user of the crash test and the write path it uses.
type crashUser struct {
	id, token string
	path      string // slack, chatter, igloo, chatter-file
	// possible are the source sizes the user's photo may have after a
	// crash: the last acknowledged one and every one sent since; the
	// zero size stands for "no photo".
	mu       sync.Mutex
	possible map[image.Point]bool
	acked    image.Point // the last upload acknowledged
}

func (u *crashUser) mayBe(p image.Point) {
	u.mu.Lock()
	u.possible[p] = true
	u.mu.Unlock()
}

func (u *crashUser) is(p image.Point) {
	u.mu.Lock()
	u.possible = map[image.Point]bool{p: true}
	u.acked = p
	u.mu.Unlock()
}

func TestCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("the crash test kills and restarts photod 16 times")
	}
	seed := uint64(20261201)
	if s := os.Getenv(crashSeedEnv); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("$%s: %v", crashSeedEnv, err)
		}
		seed = v
	}
	t.Logf("kill points from seed %d (set $%s to replay another)", seed, crashSeedEnv)

	t.Run("filesystem", func(t *testing.T) {
		data := t.TempDir()
		crashRun(t, seed, []string{"-data", data}, func(now func() time.Time) (*storage.Bucket, func(context.Context) (int, error)) {
			st, err := aferostore.New(afero.NewBasePathFs(afero.NewOsFs(), filepath.Join(data, objectsDir)), &aferostore.Options{Now: now})
			if err != nil {
				t.Fatal(err)
			}
			return storage.NewBucket(st), func(ctx context.Context) (int, error) {
				before := countTemp(t, filepath.Join(data, objectsDir))
				res, err := st.Tidy(ctx, tidyAge)
				t.Logf("temporary files: %d after the crashes, Tidy removed %d", before, res.TempFiles)
				if left := countTemp(t, filepath.Join(data, objectsDir)); left != 0 {
					t.Errorf("%d temporary files left after Tidy", left)
				}
				return res.TempFiles, err
			}
		})
	})
	t.Run("s3", func(t *testing.T) {
		s3 := s3test.Start(t)
		t.Setenv("AWS_ACCESS_KEY_ID", s3.AccessKey)
		t.Setenv("AWS_SECRET_ACCESS_KEY", s3.SecretKey)
		t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
		t.Setenv("AWS_PROFILE", "")
		t.Setenv("AWS_CONFIG_FILE", "/dev/null")
		t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
		t.Setenv(signingKeyEnv, "the crash test's key")
		const prefix = "crash/"
		args := []string{"-s3-bucket", s3.Bucket, "-s3-endpoint", s3.Endpoint, "-s3-region", s3.Region, "-s3-prefix", prefix}
		crashRun(t, seed+1, args, func(now func() time.Time) (*storage.Bucket, func(context.Context) (int, error)) {
			st, err := s3store.Open(t.Context(), s3store.Config{Endpoint: s3.Endpoint, Region: s3.Region, Bucket: s3.Bucket, Prefix: prefix, PathStyle: true})
			if err != nil {
				t.Fatal(err)
			}
			return storage.NewBucket(st), nil
		})
	})
}

// crashRun kills and restarts photod (started with storeArgs) crashRounds
// times under upload load, checking every user after each restart, then
// cleans up in process with open's bucket and tidy (nil when the store has
// no temporary files) and checks that only referenced objects are left.
func crashRun(t *testing.T, seed uint64, storeArgs []string, open func(now func() time.Time) (*storage.Bucket, func(context.Context) (int, error))) {
	start := time.Now()
	dir := t.TempDir()
	users := []*crashUser{
		{id: "sam", path: "slack"},
		{id: "carl", path: "chatter"},
		{id: "ingrid", path: "igloo"},
		{id: "fay", path: "chatter-file"},
	}
	var toks strings.Builder
	for _, u := range users {
		u.token = u.id + "-crash-token-0123456789"
		u.possible = map[image.Point]bool{{}: true}
		fmt.Fprintf(&toks, "%s %s\n", u.token, u.id)
	}
	tokensFile := filepath.Join(dir, "tokens")
	if err := os.WriteFile(tokensFile, []byte(toks.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	logFile := filepath.Join(dir, "photod.log")
	args := append([]string{"-addr", "127.0.0.1:0", "-tokens", tokensFile, "-janitor-interval", "0"}, storeArgs...)
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(logFile)
			t.Logf("photod's log (every run):\n%s", b)
		}
	})

	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	var attempts atomic.Int64
	var acked, interrupted atomic.Int64
	p := startCrashChild(t, args, logFile)
	// Every user starts with a photo, so that a crash has an old one to
	// keep; how long the slowest write path takes sets the kill points'
	// range, so that they fall at every stage of every path.
	began := time.Now()
	var first sync.WaitGroup
	for i, u := range users {
		first.Go(func() {
			if err := crashUpload(p.url, u, image.Pt(crashWidth, crashHeight+i)); err != nil {
				t.Errorf("%s's first %s upload: %v", u.id, u.path, err)
			}
		})
	}
	first.Wait()
	if t.Failed() {
		return
	}
	slowest := time.Since(began)
	t.Logf("the slowest write path took %v; kills fall within %v", slowest, 3*slowest)
	for round := range crashRounds {
		killed := atomic.Bool{}
		var wg sync.WaitGroup
		for i, u := range users {
			wg.Go(func() {
				for {
					size := image.Pt(crashWidth+int(attempts.Add(1)), crashHeight+i)
					err := crashUpload(p.url, u, size)
					switch {
					case err == nil:
						acked.Add(1)
						continue
					case killed.Load():
						return
					default:
						t.Errorf("round %d: %s's %s upload: %v", round, u.id, u.path, err)
						return
					}
				}
			})
		}
		delay := 20*time.Millisecond + time.Duration(rng.Int64N(int64(3*slowest)))
		time.Sleep(delay)
		killed.Store(true)
		p.kill(t)
		wg.Wait()
		if t.Failed() {
			return
		}
		p = startCrashChild(t, args, logFile)
		for _, u := range users {
			if checkCrashUser(t, p.url, u) {
				interrupted.Add(1)
			}
		}
		t.Logf("round %d: killed after %v; every user's photo is whole", round, delay)
	}
	p.stop(t)
	t.Logf("%d rounds, %d uploads started, %d acknowledged, %d committed but cut off by the kill, in %v",
		crashRounds, attempts.Load()+int64(len(users)), acked.Load()+int64(len(users)), interrupted.Load(), time.Since(start).Round(10*time.Millisecond))

	// Everything a crash left behind is now older than every grace period
	// (uploads expire after a day; blobs and temporary files after an
	// hour): a janitor round must leave only what records reference.
	later := func() time.Time { return time.Now().Add(25 * time.Hour) }
	st, tidy := open(later)
	m, err := photo.New(st, &photo.Options{Now: later})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	before := listAll(t, st)
	removed, err := m.Sweep(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if tidy != nil {
		if _, err := tidy(ctx); err != nil {
			t.Fatal(err)
		}
	}
	after := listAll(t, st)
	t.Logf("objects: %d after the crashes; Sweep removed %d uploads, files and blobs; %d left", len(before), removed, len(after))
	checkReferenced(t, st, after)
}

// crashChild is one photod process of the crash test.
type crashChild struct {
	cmd  *exec.Cmd
	url  string
	done chan error
}

// startCrashChild starts photod with args in a child process, its log
// appended to logFile, and waits until it serves.
func startCrashChild(t *testing.T, args []string, logFile string) *crashChild {
	t.Helper()
	spec, _ := json.Marshal(args)
	log, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	fmt.Fprintf(log, "--- start %s\n", time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChildProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+string(spec))
	cmd.Stderr = log
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &crashChild{cmd: cmd, done: make(chan error, 1)}
	t.Cleanup(func() { c.kill(t) })
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), "photod: serving "); ok {
				urls <- strings.TrimSuffix(strings.Fields(rest)[0], "/")
			}
		}
		io.Copy(io.Discard, out)
		c.done <- cmd.Wait()
	}()
	select {
	case c.url = <-urls:
	case err := <-c.done:
		c.done <- err
		t.Fatalf("photod ended before serving: %v (log in %s)", err, logFile)
	case <-time.After(time.Minute):
		t.Fatal("photod did not start within a minute")
	}
	return c
}

// kill ends the process with SIGKILL and waits for it.
func (c *crashChild) kill(t *testing.T) {
	c.cmd.Process.Signal(syscall.SIGKILL)
	c.wait(t)
}

// stop ends the process as an operator does, with SIGTERM.
func (c *crashChild) stop(t *testing.T) {
	c.cmd.Process.Signal(syscall.SIGTERM)
	if err := c.wait(t); err != nil {
		t.Errorf("photod stopped with %v", err)
	}
}

func (c *crashChild) wait(t *testing.T) error {
	select {
	case err := <-c.done:
		c.done <- err
		return err
	case <-time.After(time.Minute):
		t.Fatal("photod did not end within a minute")
		return nil
	}
}

// crashImage is a PNG of the given size, different for every size.
func crashImage(size image.Point) []byte {
	img := image.NewNRGBA(image.Rect(0, 0, size.X, size.Y))
	r := rand.New(rand.NewPCG(uint64(size.X), uint64(size.Y)))
	pix := img.Pix
	for i := 0; i < len(pix); i += 4 {
		x, y := (i/4)%size.X, (i/4)/size.X
		pix[i], pix[i+1], pix[i+2], pix[i+3] = uint8(x), uint8(y), uint8(r.Uint32()&63), 255
	}
	var buf bytes.Buffer
	(&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(&buf, img)
	return buf.Bytes()
}

// crashUpload sets u's photo to a new image of the given size through u's
// write path. Busy refusals are retried.
func crashUpload(base string, u *crashUser, size image.Point) error {
	data := crashImage(size)
	form := func(field string, fields map[string]string) (string, *bytes.Buffer) {
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		for k, v := range fields {
			mw.WriteField(k, v)
		}
		w, _ := mw.CreateFormFile(field, "me.png")
		w.Write(data)
		mw.Close()
		return mw.FormDataContentType(), &buf
	}
	send := func(method, url, ct string, body []byte, header map[string]string, want int) (*http.Response, []byte, error) {
		for {
			req, err := http.NewRequest(method, url, bytes.NewReader(body))
			if err != nil {
				return nil, nil, err
			}
			req.Header.Set("Authorization", "Bearer "+u.token)
			if ct != "" {
				req.Header.Set("Content-Type", ct)
			}
			for k, v := range header {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return nil, nil, err
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				return nil, nil, err
			}
			busy := resp.StatusCode == 503 || resp.StatusCode == 429 || bytes.Contains(b, []byte(`"error":"ratelimited"`))
			switch {
			case busy:
				time.Sleep(50 * time.Millisecond)
			case resp.StatusCode != want:
				return nil, nil, fmt.Errorf("%s %s: %d %s", method, url, resp.StatusCode, b)
			default:
				return resp, b, nil
			}
		}
	}

	switch u.path {
	case "slack":
		ct, body := form("image", nil)
		u.mayBe(size)
		_, b, err := send("POST", base+"/api/users.setPhoto", ct, body.Bytes(), nil, 200)
		if err != nil {
			return err
		}
		if !bytes.Contains(b, []byte(`"ok":true`)) {
			return fmt.Errorf("users.setPhoto: %s", b)
		}
	case "chatter":
		ct, body := form("fileUpload", nil)
		u.mayBe(size)
		if _, _, err := send("POST", base+"/services/data/v64.0/chatter/users/me/photo", ct, body.Bytes(), nil, 201); err != nil {
			return err
		}
	case "chatter-file":
		ct, body := form("fileData", nil)
		_, b, err := send("POST", base+"/services/data/v64.0/connect/files/users/me", ct, body.Bytes(), nil, 201)
		if err != nil {
			return err
		}
		var f struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(b, &f); err != nil || f.ID == "" {
			return fmt.Errorf("created file: %s", b)
		}
		js, _ := json.Marshal(map[string]string{"fileId": f.ID})
		u.mayBe(size)
		if _, _, err := send("POST", base+"/services/data/v64.0/chatter/users/me/photo", "application/json", js, nil, 201); err != nil {
			return err
		}
		// The photo holds its own renditions; the file would stay until
		// deleted and count against the user's quota of files (20), which
		// a test making hundreds would reach. A crash before this leaves
		// a file that the clean-up checks account for.
		if _, _, err := send("DELETE", base+"/services/data/v64.0/connect/files/"+f.ID, "", nil, nil, 204); err != nil {
			return err
		}
	case "igloo":
		const attachments = "/.api2/api/v1/communities/7/attachments"
		decl, _ := json.Marshal(map[string]any{"ContentLength": len(data), "ContentType": "image/png", "Name": "me.png"})
		resp, _, err := send("POST", base+attachments, "application/json", decl, nil, 201)
		if err != nil {
			return err
		}
		loc := resp.Header.Get("Location")
		if !strings.HasPrefix(loc, "http") {
			loc = base + loc
		}
		key := loc[strings.LastIndex(loc, "/")+1:]
		half := len(data) / 2
		for _, c := range [][2]int{{0, half}, {half, len(data)}} {
			cr := fmt.Sprintf("bytes %d-%d/%d", c[0], c[1]-1, len(data))
			if _, _, err := send("PATCH", loc, "image/png", data[c[0]:c[1]], map[string]string{"Content-Range": cr}, 200); err != nil {
				return err
			}
		}
		u.mayBe(size)
		if _, _, err := send("POST", base+attachments+"/"+key+"/association/"+u.id+"?type=ProfilePhoto", "", nil, nil, 201); err != nil {
			return err
		}
	default:
		panic("unknown write path " + u.path)
	}
	u.is(size)
	return nil
}

// checkCrashUser checks that u's photo is one it may be, and that every
// rendition and the original are served whole. It reports whether the
// photo is one whose upload the crash interrupted (committed but not
// acknowledged).
func checkCrashUser(t *testing.T, base string, u *crashUser) (interrupted bool) {
	t.Helper()
	resp, err := http.Get(base + "/v1/users/" + u.id + "/profile/profile-image")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	u.mu.Lock()
	defer u.mu.Unlock()
	if resp.StatusCode == 404 {
		if !u.possible[image.Point{}] {
			t.Errorf("%s (%s) lost their photo: one of %v was expected", u.id, u.path, u.possible)
		}
		return false
	}
	var img profileImageBody
	var orig struct {
		Original *apiRendition `json:"original"`
	}
	if resp.StatusCode != 200 || json.Unmarshal(b, &img) != nil || json.Unmarshal(b, &orig) != nil || orig.Original == nil {
		t.Fatalf("%s's profile image: %d %s", u.id, resp.StatusCode, b)
	}
	got := image.Pt(orig.Original.Width, orig.Original.Height)
	if img.Status != "ready" || !u.possible[got] {
		t.Errorf("%s (%s) has a %s photo of %v, want one of %v", u.id, u.path, img.Status, got, u.possible)
	}
	interrupted = got != u.acked
	u.possible = map[image.Point]bool{got: true}
	u.acked = got
	for _, rd := range append(img.Renditions, *orig.Original) {
		checkServed(t, u.id, rd)
	}
	return interrupted
}

// checkServed fetches one rendition: 200 with whole bytes that decode to
// the size the metadata says, and 304 for its own ETag.
func checkServed(t *testing.T, who string, rd apiRendition) {
	t.Helper()
	resp, err := http.Get(rd.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 {
		t.Errorf("%s's rendition %s: %d, %v", who, rd.URL, resp.StatusCode, err)
		return
	}
	if cl := resp.Header.Get("Content-Length"); cl != strconv.Itoa(len(body)) {
		t.Errorf("%s's rendition %s: Content-Length %s, %d bytes", who, rd.URL, cl, len(body))
	}
	cfg, _, err := image.DecodeConfig(bytes.NewReader(body))
	if err == nil {
		_, _, err = image.Decode(bytes.NewReader(body))
	}
	if err != nil || cfg.Width != rd.Width || cfg.Height != rd.Height {
		t.Errorf("%s's rendition %s: %dx%d (%v), the metadata says %dx%d", who, rd.URL, cfg.Width, cfg.Height, err, rd.Width, rd.Height)
	}
	etag := resp.Header.Get("ETag")
	req, _ := http.NewRequest("GET", rd.URL, nil)
	req.Header.Set("If-None-Match", etag)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if etag == "" || resp.StatusCode != 304 {
		t.Errorf("%s's rendition %s: ETag %q answers %d to If-None-Match", who, rd.URL, etag, resp.StatusCode)
	}
}

// listAll lists every object of b.
func listAll(t *testing.T, b *storage.Bucket) []storage.Attrs {
	t.Helper()
	var all []storage.Attrs
	for a, err := range b.List(t.Context(), "") {
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, a)
	}
	return all
}

// checkReferenced checks that every object is a user's record, a blob of
// the version a record names (whole: the record's blobs are all there with
// their sizes), a file's record or a version a file's record names. The
// records are read in the library's stored format: users/<hash>/record.json
// names its current version's key prefix and blobs; files/<id>/meta.json
// maps version numbers to keys. Unfinished uploads are all past expiry, so
// none may be left.
func checkReferenced(t *testing.T, st *storage.Bucket, objs []storage.Attrs) {
	t.Helper()
	type blob struct {
		Name  string `json:"name"`
		Bytes int64  `json:"bytes"`
	}
	type version struct {
		Prefix     string `json:"prefix"`
		Original   blob   `json:"original"`
		Renditions []blob `json:"renditions"`
	}
	// A record references its current version and the earlier ones it
	// keeps (photod's -keep-versions).
	var rec struct {
		Current *version  `json:"current"`
		History []version `json:"history"`
	}
	var meta struct {
		Keys map[int]string `json:"keys"`
	}
	readJSON := func(key string, v any) {
		r, err := st.Open(t.Context(), key)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		if err := json.NewDecoder(r).Decode(v); err != nil {
			t.Fatalf("%s: %v", key, err)
		}
	}
	size := map[string]int64{}
	for _, o := range objs {
		size[o.Key] = o.Size
	}
	referenced := map[string]bool{}
	var prefixes []string
	records := 0
	for _, o := range objs {
		switch parts := strings.Split(o.Key, "/"); {
		case len(parts) == 3 && parts[0] == "users" && parts[2] == "record.json":
			records++
			referenced[o.Key] = true
			rec.Current, rec.History = nil, nil
			readJSON(o.Key, &rec)
			vs := rec.History
			if rec.Current != nil {
				vs = append(vs, *rec.Current)
			}
			for _, v := range vs {
				prefixes = append(prefixes, v.Prefix)
				for _, b := range append(v.Renditions, v.Original) {
					if n, ok := size[v.Prefix+b.Name]; !ok || n != b.Bytes {
						t.Errorf("%s names %s%s of %d bytes; the store has %d (present %v)", o.Key, v.Prefix, b.Name, b.Bytes, n, ok)
					}
				}
			}
		case len(parts) == 3 && parts[0] == "quotas" && (parts[2] == "uploads.json" || parts[2] == "files.json"):
			// A user's quota index of uploads or files: it lives as long
			// as the user, like the record.
			referenced[o.Key] = true
		case len(parts) == 3 && parts[0] == "files" && parts[2] == "meta.json":
			referenced[o.Key] = true
			meta.Keys = nil
			readJSON(o.Key, &meta)
			for _, k := range meta.Keys {
				referenced[k] = true
			}
		}
	}
	if records == 0 {
		t.Error("no user records at all")
	}
	for _, o := range objs {
		if referenced[o.Key] {
			continue
		}
		if slicesHasPrefix(prefixes, o.Key) {
			continue
		}
		t.Errorf("%s (%d bytes, %v) is referenced by no record", o.Key, o.Size, o.ModTime)
	}
}

func slicesHasPrefix(prefixes []string, key string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(key, p) {
			return true
		}
	}
	return false
}

// countTemp counts the filesystem store's temporary files under dir.
func countTemp(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasPrefix(d.Name(), ".tmp-") {
			n++
		}
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	return n
}
