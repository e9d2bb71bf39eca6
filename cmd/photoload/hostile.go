package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"mime/multipart"
	"net"
	"net/http"
	"strings"
	"syscall"
	"time"
)

// The hostile clients' requests, all of which photod must refuse.
const (
	// slowDeclared is what a slow body claims to be; slowRate is how
	// fast it comes (bytes a second), just above the minimum rate
	// photod enforces, in slowStep steps.
	slowDeclared = 2_000_000
	slowRate     = 6000
	slowStep     = 100 * time.Millisecond
	// slowHoldMax is the longest a slow body trickles before its client
	// gives up; it is also at most a quarter of the run, and ends with
	// it.
	slowHoldMax = 5 * time.Second
	// oversized is how large an oversized part is: above photod's
	// default upload limit of 20 MiB.
	oversized = 21 << 20
)

// hostile is one hostile client: it sends slow bodies, oversized parts
// and requests with bad tokens in turn, starting with the n-th kind; its
// first request goes out even if the duration is over.
func (d *driver) hostile(rng *rand.Rand, n int, u user) {
	for i := n; d.ctx.Err() == nil && (i == n || d.running()); i++ {
		var op string
		var o outcome
		var err error
		start := time.Now()
		switch i % 3 {
		case 0:
			op = "hostile.slow-body"
			o, err = d.slowBody()
		case 1:
			op = "hostile.oversized"
			o, err = d.oversized(rng, u)
		default:
			op = "hostile.bad-token"
			o, err = d.badToken(rng)
		}
		if d.ctx.Err() != nil {
			return
		}
		if o == failed {
			d.logf("photoload: %s: %v", op, err)
		}
		d.rep.add(op, time.Since(start), o, fmt.Sprint(err))
	}
}

// judge sorts the answer to a request that photod must refuse.
func judge(a *answer, err error) (outcome, error) {
	switch {
	case err != nil && errors.Is(err, syscall.ECONNREFUSED):
		return failed, err
	case err != nil:
		// photod closed the connection on a body it would not take.
		return refused, nil
	case a.busyAnswer():
		return busy, nil
	case a.status >= 400 && a.status < 500:
		return refused, nil
	case a.status == 200 && bytes.Contains(a.body, []byte(`"ok":false`)):
		return refused, nil
	}
	body := a.body
	if len(body) > 200 {
		body = body[:200]
	}
	return failed, fmt.Errorf("not refused: HTTP %d %s", a.status, body)
}

// slowBody starts an anonymous users.setPhoto whose body trickles in just
// above photod's minimum rate, and gives up after a few seconds unless
// photod answers first.
func (d *driver) slowBody() (outcome, error) {
	host := strings.TrimPrefix(d.t.base, "http://")
	conn, err := net.DialTimeout("tcp", host, 10*time.Second)
	if err != nil {
		return failed, err
	}
	defer conn.Close()
	const boundary = "photoload-slow-body"
	fmt.Fprintf(conn, "POST /api/users.setPhoto HTTP/1.1\r\nHost: %s\r\nContent-Type: multipart/form-data; boundary=%s\r\nContent-Length: %d\r\n\r\n"+
		"--%s\r\nContent-Disposition: form-data; name=\"image\"; filename=\"slow.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n\xff\xd8\xff\xe0",
		host, boundary, slowDeclared, boundary)
	answered := make(chan *answer, 1)
	go func() {
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			answered <- nil
			return
		}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
		resp.Body.Close()
		answered <- &answer{status: resp.StatusCode, header: resp.Header, body: b}
	}()
	// Hold on no later than the end of the run (or half a second past
	// it, for a first request that starts late).
	hold := min(slowHoldMax, d.cfg.duration/4, max(time.Until(d.stopAt), 5*slowStep))
	step := make([]byte, slowRate*int(slowStep)/int(time.Second))
	tick := time.NewTicker(slowStep)
	defer tick.Stop()
	end := time.After(hold)
	for {
		select {
		case a := <-answered:
			if a == nil {
				return refused, nil // closed without an answer
			}
			return judge(a, nil)
		case <-end:
			return refused, nil // still waiting: photod kept it at bay
		case <-d.ctx.Done():
			return refused, nil
		case <-tick.C:
			conn.SetWriteDeadline(time.Now().Add(time.Second))
			if _, err := conn.Write(step); err != nil {
				return refused, nil // photod closed the connection
			}
		}
	}
}

// oversized sends a photo part larger than photod's upload limit through
// one of the dialects.
func (d *driver) oversized(rng *rand.Rand, u user) (outcome, error) {
	var path, field string
	switch rng.IntN(3) {
	case 0:
		path, field = "/api/users.setPhoto", "image"
	case 1:
		path, field = "/services/data/v64.0/chatter/users/me/photo", "fileUpload"
	default:
		path, field = "/v1/users/"+u.id+"/profile/profile-image", "file"
	}
	var head bytes.Buffer
	mw := multipart.NewWriter(&head)
	mw.CreateFormFile(field, "huge.png")
	head.WriteString("\x89PNG\r\n\x1a\n")
	tail := "\r\n--" + mw.Boundary() + "--\r\n"
	body := io.MultiReader(&head, io.LimitReader(zeros{}, oversized), strings.NewReader(tail))
	length := int64(head.Len()) + oversized + int64(len(tail))
	req, err := http.NewRequestWithContext(d.ctx, "POST", d.t.base+path, body)
	if err != nil {
		return failed, err
	}
	req.ContentLength = length
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+u.token)
	resp, err := d.hc.Do(req)
	if err != nil {
		return judge(nil, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	return judge(&answer{status: resp.StatusCode, header: resp.Header, body: b}, nil)
}

// zeros reads as an endless run of zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// badToken sends a write with a token photod never issued.
func (d *driver) badToken(rng *rand.Rand) (outcome, error) {
	p := d.photos[rng.IntN(len(d.photos))]
	token := fmt.Sprintf("forged-%016x", rng.Uint64())
	var a *answer
	var err error
	switch rng.IntN(4) {
	case 0:
		ct, body := form("image", p, nil)
		a, err = d.do("POST", "/api/users.setPhoto", token, map[string]string{"Content-Type": ct}, bytes.NewReader(body))
	case 1:
		ct, body := form("fileUpload", p, nil)
		a, err = d.do("POST", "/services/data/v64.0/chatter/users/me/photo", token, map[string]string{"Content-Type": ct}, bytes.NewReader(body))
	case 2:
		a, err = d.do("DELETE", "/v1/users/"+d.t.users[0].id+"/profile/profile-image", token, nil, nil)
	default:
		a, err = d.do("POST", "/.api2/api/v1/communities/1/attachments", token, map[string]string{"Content-Type": "application/json"},
			strings.NewReader(`{"ContentLength":1000,"ContentType":"image/png","Name":"x.png"}`))
	}
	if err != nil {
		return failed, err
	}
	return judge(a, nil)
}
