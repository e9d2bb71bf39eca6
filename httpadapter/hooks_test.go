package httpadapter

import (
	"context"
	"errors"
	"image"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/profilephoto/photo"
)

// TestRefusedByHook checks each dialect's answer when the application's
// photo.Options.BeforeCommit refuses the image: with its own message (an
// *Error) and with the default one (any other error).
func TestRefusedByHook(t *testing.T) {
	for _, c := range []struct {
		name string
		err  error
		msg  string
	}{
		{"own message", &photo.Error{Code: photo.CodeRefused, Message: "faces only, please"}, "faces only, please"},
		{"plain error", errors.New("moderation: score 0.97 > 0.9"), "the image was refused"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var calls atomic.Int32
			e := newTestEnv(t, envConfig{Photo: &photo.Options{Sizes: []int{32, 64}, BeforeCommit: func(context.Context, string, image.Image) error {
				calls.Add(1)
				return c.err
			}}})
			img := jpegImage(t, 80, 60)
			chatterH, chatterB := chatterUpload(t, bearerAlice, img, "")
			slackH, slackB := multipartReq(t, withAuth(bearerAlice, nil), filePart("image", "me.jpg", "image/jpeg", img))
			piH, piB := multipartReq(t, withAuth(bearerAlice, nil), filePart("file", "me.jpg", "image/jpeg", img))
			key := iglooNew(t, e, bearerAlice, len(img), "image/jpeg")
			iglooPatch(t, e, bearerAlice, key, 0, img, len(img))
			runTests(t, e, []httpTest{
				{Name: "Chatter", Method: http.MethodPost, URL: chatterPath("alice"), ReqHeader: chatterH, ReqBody: chatterB,
					Code: 400, ResBody: `[{"errorCode":"FIELD_CUSTOM_VALIDATION_EXCEPTION","message":"` + c.msg + `"}]`},
				{Name: "Slack", Method: http.MethodPost, URL: "/api/users.setPhoto", ReqHeader: slackH, ReqBody: slackB,
					Code: slackStatus, ResBody: slackErr("bad_image")},
				{Name: "profile-image", Method: http.MethodPost, URL: piURL("alice"), ReqHeader: piH, ReqBody: piB,
					Code: 400, ResBody: `{"code":"validation-failure","message":"` + c.msg + `",` +
						`"fieldErrors":[{"field":"file","code":"image-refused","message":"` + c.msg + `"}]}`},
				{Name: "igloo", Method: http.MethodPost, URL: iglooRoot + "/" + key + "/association/alice?type=ProfilePhoto",
					ReqHeader: withAuth(bearerAlice, nil), Code: 400, ResBody: `{"code":"validation-failure","message":"` + c.msg + `"}`},
			})
			if n := calls.Load(); n != 4 {
				t.Errorf("the hook ran %d times, want 4", n)
			}
			if p := e.getPhoto(t, "alice"); p != nil {
				t.Errorf("a refused image became the photo: %+v", p)
			}
		})
	}
}
