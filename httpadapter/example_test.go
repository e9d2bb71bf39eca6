package httpadapter_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/jpeg"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/profilephoto/photo"
	"github.com/profilephoto/photo/httpadapter"
	"github.com/profilephoto/photo/storage"
	"github.com/profilephoto/photo/storage/memstore"
)

// Mount the adapter under /avatars/ in a host's mux, with the host's own
// token check, and set a photo through Slack's users.setPhoto.
func Example() {
	photos, err := photo.New(storage.NewBucket(memstore.New()), &photo.Options{Sizes: []int{24, 72, 192}})
	if err != nil {
		panic(err)
	}
	h, err := httpadapter.New(photos, &httpadapter.Options{
		Authenticate: func(r *http.Request) (httpadapter.Principal, error) {
			switch r.Header.Get("Authorization") {
			case "":
				return httpadapter.Principal{}, httpadapter.ErrNoCredentials
			case "Bearer alice-token":
				return httpadapter.Principal{ID: "alice"}, nil
			}
			return httpadapter.Principal{}, fmt.Errorf("unknown token")
		},
	})
	if err != nil {
		panic(err)
	}
	defer h.Shutdown(context.Background())
	mux := http.NewServeMux()
	mux.Handle("/avatars/", http.StripPrefix("/avatars", h))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	// A multipart body with the image; the crop box is optional.
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, _ := mw.CreateFormFile("image", "me.jpg")
	img := image.NewGray(image.Rect(0, 0, 300, 200))
	for i := range img.Pix {
		img.Pix[i] = uint8(i)
	}
	jpeg.Encode(fw, img, nil)
	mw.WriteField("crop_x", "50")
	mw.WriteField("crop_y", "0")
	mw.WriteField("crop_w", "200")
	mw.Close()

	post := func(auth string) string {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/avatars/api/users.setPhoto", bytes.NewReader(body.Bytes()))
		req.Header.Set("Content-Type", mw.FormDataContentType())
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			panic(err)
		}
		defer res.Body.Close()
		var out struct {
			OK    bool   `json:"ok"`
			Error string `json:"error"`
		}
		json.NewDecoder(res.Body).Decode(&out)
		if !out.OK {
			return fmt.Sprint(res.StatusCode, " ", out.Error)
		}
		return fmt.Sprint(res.StatusCode, " ok")
	}
	fmt.Println(post(""))
	fmt.Println(post("Bearer stolen"))
	fmt.Println(post("Bearer alice-token"))

	// The profile lists absolute rendition URLs that keep the prefix.
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/avatars/api/users.profile.get", nil)
	req.Header.Set("Authorization", "Bearer alice-token")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		panic(err)
	}
	defer res.Body.Close()
	var prof struct {
		Profile map[string]any `json:"profile"`
	}
	json.NewDecoder(res.Body).Decode(&prof)
	url, _ := prof.Profile["image_72"].(string)
	fmt.Println(strings.HasPrefix(url, srv.URL+"/avatars/photos/alice/"), strings.HasSuffix(url, "/72"))
	// Output:
	// 200 not_authed
	// 200 invalid_auth
	// 200 ok
	// true true
}
