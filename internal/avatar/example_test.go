package avatar_test

import (
	"fmt"

	"github.com/profilephoto/photo/internal/avatar"
)

// A handler for a user without a photo answers with the default, tagged
// so that clients and caches can keep it.
func ExampleEncode() {
	etag := avatar.ETag("005xx000001Sv6AAAS", "Ada Lovelace", 200)
	body, contentType, err := avatar.Encode("005xx000001Sv6AAAS", "Ada Lovelace", 200)
	if err != nil {
		panic(err)
	}
	fmt.Println(contentType, len(body) < 2000, etag[:10])
	// Output: image/png true "avatar-1-
}
