package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/profilephoto/photo/internal/s3test"
)

// TestS3 runs photod on a real S3 server (versitygw on loopback, built by
// scripts/versitygw.sh): two instances share one bucket, as a deployment
// that outgrew one machine does, and what one stores the other serves.
func TestS3(t *testing.T) {
	s3 := s3test.Start(t)
	// Credentials the way operators give them: the AWS environment. No
	// instance metadata lookups, ever.
	t.Setenv("AWS_ACCESS_KEY_ID", s3.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", s3.SecretKey)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", "/dev/null")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
	t.Setenv(signingKeyEnv, "one key shared by every instance of the test")

	args := []string{"-s3-bucket", s3.Bucket, "-s3-endpoint", s3.Endpoint, "-s3-region", s3.Region, "-s3-prefix", "photod-test/", "-tokens", writeTokens(t)}
	a := startPhotod(t, args...)
	b := startPhotod(t, args...)
	if out := a.stdout.String(); !strings.Contains(out, "S3 store s3://"+s3.Bucket+"/photod-test/ at "+s3.Endpoint) {
		t.Errorf("the start-up line does not name the bucket: %q", out)
	}

	jpeg := readFile(t, testdata(t, "exif-samples/DSCN0010.jpg"))
	ct, body := multipartBody(t, [][2]string{{"crop_x", "100"}, {"crop_y", "40"}, {"crop_w", "400"}}, "image", "me.jpg", jpeg)
	r := client{t: t, base: a.URL}.do("POST", "/api/users.setPhoto", aliceToken, map[string]string{"Content-Type": ct}, body)
	if !strings.Contains(string(r.body), `"ok":true`) {
		t.Fatalf("setPhoto on instance a: %s", r.body)
	}
	var img profileImageBody
	client{t: t, base: b.URL}.do("GET", "/v1/users/alice/profile/profile-image", "", nil, nil).json(t, &img)
	if img.Status != "ready" || len(img.Renditions) == 0 {
		t.Fatalf("instance b sees %+v", img)
	}
	for _, rd := range img.Renditions {
		got := fetchImage(t, rd.URL)
		if got.Bounds().Dx() != rd.Width || got.Bounds().Dy() != rd.Height {
			t.Errorf("rendition %d from instance b is %v, want %dx%d", rd.Size, got.Bounds(), rd.Width, rd.Height)
		}
	}
	// An email URL signed by a works on b: the key comes from the
	// environment, shared.
	var ph map[string]string
	client{t: t, base: a.URL}.do("GET", "/services/data/v64.0/chatter/users/alice/photo", "", nil, nil).json(t, &ph)
	email := strings.Replace(ph["standardEmailPhotoUrl"], a.URL, b.URL, 1)
	if got := fetchImage(t, email); got.Bounds().Dx() == 0 {
		t.Errorf("the email URL signed by a does not work on b: %s", email)
	}
	if r := (client{t: t, base: b.URL}).do("DELETE", "/v1/users/alice/profile/profile-image", aliceToken, nil, nil); r.status != 204 {
		t.Errorf("DELETE on b: %d %s", r.status, r.body)
	}
	if r := (client{t: t, base: a.URL}).do("GET", "/v1/users/alice/profile/profile-image", "", nil, nil); r.status != 404 {
		t.Errorf("a after b's DELETE: %d", r.status)
	}
}

// TestS3Unreachable: a bucket that cannot be reached stops photod at
// start, with the bucket's name in the error.
func TestS3Unreachable(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "nobody")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "nothing")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_CONFIG_FILE", "/dev/null")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
	// A loopback port that nothing listens on: refused at once, and no
	// packet leaves the machine.
	port := freeLoopbackPort(t)
	err := run(t.Context(), []string{"-addr", "127.0.0.1:0", "-s3-bucket", "gone", "-s3-region", "us-east-1",
		"-s3-endpoint", fmt.Sprintf("http://127.0.0.1:%d", port)}, &strings.Builder{}, &strings.Builder{})
	if err == nil || !strings.Contains(err.Error(), "s3://gone/") {
		t.Fatalf("run with an unreachable bucket: %v", err)
	}
}
