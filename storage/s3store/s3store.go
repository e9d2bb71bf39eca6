// Package s3store is a storage.Store over an S3 bucket, for AWS S3 and the
// services that speak its API (MinIO, versitygw, Ceph RGW, Cloudflare R2,
// ...). Many processes may share one bucket: that is how a deployment
// grows past one machine.
//
//	st, err := s3store.Open(ctx, s3store.Config{
//		Endpoint:  "http://127.0.0.1:7070", // empty for AWS
//		Region:    "us-east-1",
//		Bucket:    "photos",
//		Prefix:    "prod/",
//		PathStyle: true,
//	})
//	if err != nil { ... }
//	m, err := photo.New(st, nil)
//
// Credentials come from the usual AWS sources (AWS_ACCESS_KEY_ID and
// AWS_SECRET_ACCESS_KEY, AWS_PROFILE, ...) unless Config names them. New
// takes a client of one's own instead: anything with the methods of API,
// such as an *s3.Client.
//
// # Consistency
//
// S3 is strongly consistent for reads after writes, and a PutObject or a
// CompleteMultipartUpload replaces an object atomically. Preconditions are
// S3 conditional writes, evaluated by the server at the moment of the
// write: IfAbsent sends If-None-Match: * and IfMatch sends If-Match; a 412
// PreconditionFailed, a 409 ConditionalRequestConflict (a concurrent
// conditional write in progress), or a 404 for If-Match on a missing key
// becomes storage.ErrPrecondition. The service must support conditional
// writes (AWS since 2024, versitygw, recent MinIO); one that ignores the
// headers silently loses the guarantee. A conditional write whose response
// is lost and that the SDK retries may report ErrPrecondition although the
// first attempt was applied: a caller that re-reads before trying again,
// as the photo library does with its records, then finds its own write.
//
// Objects smaller than Options.PartSize are read into memory and sent with
// one PutObject. Larger or unknown-length input is sent as a multipart
// upload, one part in memory at a time, whose CompleteMultipartUpload
// carries the condition; a failed or cancelled Put aborts the upload, so the
// previous object stays as it was (an upload orphaned by a crash is left
// for the bucket's lifecycle rule for incomplete multipart uploads: set one).
//
// The ETag is S3's: the MD5 of the bytes (or of the parts). Rewriting
// identical bytes therefore keeps the ETag, and If-Match compares content:
// a compare-and-swap succeeds when the object holds the bytes that were
// read, whoever wrote them. The photo library's records always change when
// written, so this is the same as a version check for them.
//
// Open issues one GET and streams the object from it: reading straight
// through returns the object as it was when Open returned. After a Seek,
// the Reader issues a ranged GET with If-Match of the ETag it opened, so a
// Reader never mixes two objects: if the key was overwritten or deleted
// meanwhile the Read fails with an error wrapping storage.ErrPrecondition
// or storage.ErrNotFound. List pages carry no content types (S3 listings do
// not have them).
package s3store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/profilephoto/photo/storage"
	"github.com/profilephoto/photo/storage/driver"
)

// API lists the S3 calls the Store makes; *s3.Client implements it. A test
// or a wrapper (metrics, tracing) can stand in for the client.
type API interface {
	PutObject(ctx context.Context, in *s3.PutObjectInput, opts ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	HeadObject(ctx context.Context, in *s3.HeadObjectInput, opts ...func(*s3.Options)) (*s3.HeadObjectOutput, error)
	DeleteObject(ctx context.Context, in *s3.DeleteObjectInput, opts ...func(*s3.Options)) (*s3.DeleteObjectOutput, error)
	ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, opts ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
	CreateMultipartUpload(ctx context.Context, in *s3.CreateMultipartUploadInput, opts ...func(*s3.Options)) (*s3.CreateMultipartUploadOutput, error)
	UploadPart(ctx context.Context, in *s3.UploadPartInput, opts ...func(*s3.Options)) (*s3.UploadPartOutput, error)
	CompleteMultipartUpload(ctx context.Context, in *s3.CompleteMultipartUploadInput, opts ...func(*s3.Options)) (*s3.CompleteMultipartUploadOutput, error)
	AbortMultipartUpload(ctx context.Context, in *s3.AbortMultipartUploadInput, opts ...func(*s3.Options)) (*s3.AbortMultipartUploadOutput, error)
}

var _ API = (*s3.Client)(nil)

// Options configure a Store. A nil *Options is the zero value.
type Options struct {
	// Prefix is put before every key, so that several stores (or other
	// data) can share a bucket. A "/" is added if it does not end in one.
	// It must be a valid storage key prefix of at most MaxPrefixLen bytes;
	// the default is none.
	Prefix string
	// PartSize is the size of one part of a multipart upload, and the size
	// from which a Put uses one: each large Put holds one part in memory.
	// The default, and the least S3 allows, is 5 MiB; at most 10,000 parts
	// make an object.
	PartSize int64
}

// MaxPrefixLen is the longest Options.Prefix: with a key of
// storage.MaxKeyLen bytes it makes S3's longest object key, 1024 bytes.
const MaxPrefixLen = 1024 - storage.MaxKeyLen

// MinPartSize is the smallest part S3 accepts, and the default PartSize.
const MinPartSize = 5 << 20

const maxParts = 10000

// Store is a storage.Store over an S3 bucket. It is safe for concurrent
// use.
type Store struct {
	api      API
	bucket   string
	prefix   string
	partSize int64
}

var _ storage.Store = (*Store)(nil)

// New returns a Store over bucket, reached through api.
func New(api API, bucket string, opts *Options) (*Store, error) {
	if api == nil {
		return nil, errors.New("s3store: New: nil API")
	}
	if bucket == "" {
		return nil, errors.New("s3store: New: no bucket")
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Prefix != "" && !strings.HasSuffix(o.Prefix, "/") {
		o.Prefix += "/"
	}
	if err := storage.ValidatePrefix(o.Prefix); err != nil {
		return nil, fmt.Errorf("s3store: New: Prefix: %w", err)
	}
	if len(o.Prefix) > MaxPrefixLen {
		return nil, fmt.Errorf("s3store: New: Prefix longer than %d bytes", MaxPrefixLen)
	}
	if o.PartSize == 0 {
		o.PartSize = MinPartSize
	}
	if o.PartSize < MinPartSize {
		return nil, fmt.Errorf("s3store: New: PartSize %d is less than S3's minimum %d", o.PartSize, MinPartSize)
	}
	return &Store{api: api, bucket: bucket, prefix: o.Prefix, partSize: o.PartSize}, nil
}

func (s *Store) objectKey(key string) *string { return aws.String(s.prefix + key) }

// apiCode returns the S3 error code and HTTP status of err, if it is an
// error the service answered.
func apiCode(err error) (code string, status int) {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		code = ae.ErrorCode()
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	return code, status
}

func isNotFound(err error) bool {
	var nsk *types.NoSuchKey
	var nf *types.NotFound
	if errors.As(err, &nsk) || errors.As(err, &nf) {
		return true
	}
	code, status := apiCode(err)
	return code == "NoSuchKey" || code == "NotFound" || status == http.StatusNotFound
}

func isPrecondition(err error) bool {
	code, status := apiCode(err)
	return code == "PreconditionFailed" || code == "ConditionalRequestConflict" || status == http.StatusPreconditionFailed
}

func fail(op, key string, err error) error {
	return fmt.Errorf("s3store: %s %q: %w", op, key, err)
}

// metaNoType marks an object stored without a content type: S3 services
// fill in a default of their own, which Attrs must not report.
const metaNoType = "photo-no-content-type"

func contentType(ct *string, meta map[string]string) string {
	if meta[metaNoType] != "" || ct == nil {
		return ""
	}
	return *ct
}

func etag(p *string) string {
	if p == nil {
		return ""
	}
	return strings.Trim(*p, `"`)
}

// Put implements storage.Store.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, opts *storage.PutOptions) (storage.Attrs, error) {
	o, err := storage.PutArgs(ctx, key, opts)
	if err != nil {
		return storage.Attrs{}, fail("put", key, err)
	}
	cr := storage.ContextReader(ctx, r)
	first, err := readUpTo(cr, s.partSize)
	if err != nil {
		return storage.Attrs{}, fail("put", key, err)
	}
	var tag *string
	var size int64
	if int64(len(first)) < s.partSize {
		tag, err = s.putSmall(ctx, key, first, &o)
		size = int64(len(first))
	} else {
		tag, size, err = s.putMultipart(ctx, key, first, cr, &o)
	}
	if err != nil {
		return storage.Attrs{}, err
	}
	return storage.Attrs{
		Key:         key,
		Size:        size,
		ETag:        etag(tag),
		ModTime:     time.Now().UTC().Truncate(time.Second),
		ContentType: o.ContentType,
	}, nil
}

// readUpTo reads until EOF or limit bytes, growing its buffer as it goes
// so that a small object costs a small buffer.
func readUpTo(r io.Reader, limit int64) ([]byte, error) {
	buf := make([]byte, 0, min(limit, 32<<10))
	for {
		if len(buf) == cap(buf) {
			if int64(len(buf)) >= limit {
				return buf, nil
			}
			grown := make([]byte, len(buf), min(2*int64(cap(buf)), limit))
			copy(grown, buf)
			buf = grown
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// conditions returns the headers that carry o's precondition.
func conditions(o *storage.PutOptions) (ifMatch, ifNoneMatch *string) {
	if o.IfAbsent {
		ifNoneMatch = aws.String("*")
	}
	if o.IfMatch != "" {
		ifMatch = aws.String(`"` + o.IfMatch + `"`)
	}
	return ifMatch, ifNoneMatch
}

// writeError maps the error of the request that makes an object appear:
// with If-Match, a missing object is a lost precondition, not a missing
// key.
func writeError(key string, o *storage.PutOptions, err error) error {
	if (o.IfAbsent || o.IfMatch != "") && (isPrecondition(err) || o.IfMatch != "" && isNotFound(err)) {
		return storage.PreconditionFailed("s3store: put", key)
	}
	return fail("put", key, err)
}

func (s *Store) metadata(o *storage.PutOptions) (ct *string, meta map[string]string) {
	if o.ContentType == "" {
		return nil, map[string]string{metaNoType: "1"}
	}
	return aws.String(o.ContentType), nil
}

func (s *Store) putSmall(ctx context.Context, key string, data []byte, o *storage.PutOptions) (*string, error) {
	ifMatch, ifNoneMatch := conditions(o)
	ct, meta := s.metadata(o)
	out, err := s.api.PutObject(ctx, &s3.PutObjectInput{
		Bucket:        aws.String(s.bucket),
		Key:           s.objectKey(key),
		Body:          bytes.NewReader(data),
		ContentLength: aws.Int64(int64(len(data))),
		ContentType:   ct,
		Metadata:      meta,
		IfMatch:       ifMatch,
		IfNoneMatch:   ifNoneMatch,
	})
	if err != nil {
		return nil, writeError(key, o, err)
	}
	return out.ETag, nil
}

func (s *Store) putMultipart(ctx context.Context, key string, first []byte, r io.Reader, o *storage.PutOptions) (*string, int64, error) {
	ct, meta := s.metadata(o)
	up, err := s.api.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket:      aws.String(s.bucket),
		Key:         s.objectKey(key),
		ContentType: ct,
		Metadata:    meta,
	})
	if err != nil {
		return nil, 0, fail("put", key, err)
	}
	completed := false
	defer func() {
		if completed {
			return
		}
		// On a context of its own: a cancelled Put must still abort, or
		// the parts stay billed until a lifecycle rule removes them.
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		s.api.AbortMultipartUpload(actx, &s3.AbortMultipartUploadInput{
			Bucket: aws.String(s.bucket), Key: s.objectKey(key), UploadId: up.UploadId,
		})
	}()

	var parts []types.CompletedPart
	var size int64
	part := first
	for n := int32(1); ; n++ {
		if n > maxParts {
			return nil, 0, fail("put", key, fmt.Errorf("more than %d parts of %d bytes", maxParts, s.partSize))
		}
		out, err := s.api.UploadPart(ctx, &s3.UploadPartInput{
			Bucket:        aws.String(s.bucket),
			Key:           s.objectKey(key),
			UploadId:      up.UploadId,
			PartNumber:    aws.Int32(n),
			Body:          bytes.NewReader(part),
			ContentLength: aws.Int64(int64(len(part))),
		})
		if err != nil {
			return nil, 0, fail("put", key, err)
		}
		parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(n), ETag: out.ETag})
		size += int64(len(part))
		if int64(len(part)) < s.partSize {
			break
		}
		// Reuse the part's memory for the next one: one part in memory.
		k, err := io.ReadFull(r, part[:s.partSize])
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			if k == 0 {
				break
			}
			err = nil
		}
		if err != nil {
			return nil, 0, fail("put", key, err)
		}
		part = part[:k]
	}
	if err := ctx.Err(); err != nil {
		return nil, 0, fail("put", key, err)
	}
	ifMatch, ifNoneMatch := conditions(o)
	out, err := s.api.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket:          aws.String(s.bucket),
		Key:             s.objectKey(key),
		UploadId:        up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
		IfMatch:         ifMatch,
		IfNoneMatch:     ifNoneMatch,
	})
	if err != nil {
		return nil, 0, writeError(key, o, err)
	}
	completed = true
	return out.ETag, size, nil
}

// Open implements storage.Store. The Reader uses ctx for its later ranged
// requests too: cancelling ctx ends its reads.
func (s *Store) Open(ctx context.Context, key string) (storage.Reader, error) {
	if err := storage.KeyArgs(ctx, key); err != nil {
		return nil, fmt.Errorf("s3store: open: %w", err)
	}
	out, err := s.api.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: s.objectKey(key)})
	if isNotFound(err) {
		return nil, storage.NotFound("s3store: open", key)
	}
	if err != nil {
		return nil, fail("open", key, err)
	}
	a := storage.Attrs{
		Key:         key,
		Size:        aws.ToInt64(out.ContentLength),
		ETag:        etag(out.ETag),
		ModTime:     aws.ToTime(out.LastModified),
		ContentType: contentType(out.ContentType, out.Metadata),
	}
	return &reader{ctx: ctx, s: s, key: key, attrs: a, body: out.Body}, nil
}

// reader reads an object from one GET while the reads run on, and from a
// ranged GET pinned to the opened ETag after a Seek.
type reader struct {
	ctx     context.Context
	s       *Store
	key     string
	attrs   storage.Attrs
	pos     int64         // where the next Read reads
	body    io.ReadCloser // nil when no GET is open
	bodyPos int64         // the offset of body's next byte
}

func (r *reader) Attrs() storage.Attrs { return r.attrs }

func (r *reader) Read(p []byte) (int, error) {
	if r.pos >= r.attrs.Size {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	if r.body == nil || r.bodyPos != r.pos {
		if err := r.reopen(); err != nil {
			return 0, err
		}
	}
	n, err := r.body.Read(p)
	r.pos += int64(n)
	r.bodyPos += int64(n)
	switch {
	case err == io.EOF && r.pos < r.attrs.Size:
		return n, fail("read", r.key, io.ErrUnexpectedEOF)
	case err == io.EOF:
		return n, io.EOF
	case err != nil:
		return n, fail("read", r.key, err)
	}
	return n, nil
}

// reopen starts a ranged GET at pos for the object the Reader opened.
func (r *reader) reopen() error {
	if r.body != nil {
		r.body.Close()
		r.body = nil
	}
	out, err := r.s.api.GetObject(r.ctx, &s3.GetObjectInput{
		Bucket:  aws.String(r.s.bucket),
		Key:     r.s.objectKey(r.key),
		Range:   aws.String(fmt.Sprintf("bytes=%d-", r.pos)),
		IfMatch: aws.String(`"` + r.attrs.ETag + `"`),
	})
	switch {
	case isNotFound(err):
		return fmt.Errorf("s3store: read %q: deleted since Open: %w", r.key, storage.ErrNotFound)
	case isPrecondition(err):
		return fmt.Errorf("s3store: read %q: overwritten since Open: %w", r.key, storage.ErrPrecondition)
	case err != nil:
		return fail("read", r.key, err)
	}
	r.body = out.Body
	r.bodyPos = r.pos
	return nil
}

// Seek implements io.Seeker. It only moves the position: the next Read
// fetches from there.
func (r *reader) Seek(offset int64, whence int) (int64, error) {
	var abs int64
	switch whence {
	case io.SeekStart:
		abs = offset
	case io.SeekCurrent:
		abs = r.pos + offset
	case io.SeekEnd:
		abs = r.attrs.Size + offset
	default:
		return 0, fmt.Errorf("s3store: seek %q: invalid whence %d", r.key, whence)
	}
	if abs < 0 {
		return 0, fmt.Errorf("s3store: seek %q: negative position %d", r.key, abs)
	}
	r.pos = abs
	return abs, nil
}

func (r *reader) Close() error {
	if r.body == nil {
		return nil
	}
	err := r.body.Close()
	r.body = nil
	return err
}

// Stat implements storage.Store.
func (s *Store) Stat(ctx context.Context, key string) (storage.Attrs, error) {
	if err := storage.KeyArgs(ctx, key); err != nil {
		return storage.Attrs{}, fmt.Errorf("s3store: stat: %w", err)
	}
	out, err := s.api.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(s.bucket), Key: s.objectKey(key)})
	if isNotFound(err) {
		return storage.Attrs{}, storage.NotFound("s3store: stat", key)
	}
	if err != nil {
		return storage.Attrs{}, fail("stat", key, err)
	}
	return storage.Attrs{
		Key:         key,
		Size:        aws.ToInt64(out.ContentLength),
		ETag:        etag(out.ETag),
		ModTime:     aws.ToTime(out.LastModified),
		ContentType: contentType(out.ContentType, out.Metadata),
	}, nil
}

// Delete implements storage.Store.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := storage.KeyArgs(ctx, key); err != nil {
		return fmt.Errorf("s3store: delete: %w", err)
	}
	_, err := s.api.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.bucket), Key: s.objectKey(key)})
	if err != nil && !isNotFound(err) {
		return fail("delete", key, err)
	}
	return nil
}

// List implements storage.Store. The page token is the last key of the
// previous page (S3's StartAfter), so a token stays valid however long the
// listing takes.
func (s *Store) List(ctx context.Context, prefix string, opts *storage.ListOptions) (storage.ListPage, error) {
	o, err := storage.ListArgs(ctx, prefix, opts)
	if err != nil {
		return storage.ListPage{}, fmt.Errorf("s3store: list: %w", err)
	}
	in := &s3.ListObjectsV2Input{
		Bucket:  aws.String(s.bucket),
		Prefix:  aws.String(s.prefix + prefix),
		MaxKeys: aws.Int32(int32(o.PageSize)),
	}
	if o.PageToken != "" {
		in.StartAfter = aws.String(s.prefix + o.PageToken)
	}
	for {
		out, err := s.api.ListObjectsV2(ctx, in)
		if err != nil {
			return storage.ListPage{}, fmt.Errorf("s3store: list %q: %w", prefix, err)
		}
		var page storage.ListPage
		for _, obj := range out.Contents {
			k, ok := strings.CutPrefix(aws.ToString(obj.Key), s.prefix)
			if !ok || storage.ValidateKey(k) != nil {
				continue // not written through a Store
			}
			page.Objects = append(page.Objects, storage.Attrs{
				Key:     k,
				Size:    aws.ToInt64(obj.Size),
				ETag:    etag(obj.ETag),
				ModTime: aws.ToTime(obj.LastModified),
			})
		}
		truncated := aws.ToBool(out.IsTruncated)
		if truncated && len(out.Contents) > 0 {
			page.NextPageToken = strings.TrimPrefix(aws.ToString(out.Contents[len(out.Contents)-1].Key), s.prefix)
		}
		if len(out.Contents) > 0 || !truncated || out.NextContinuationToken == nil {
			return page, nil
		}
		// A truncated page without objects: go on from where S3 stopped.
		in.ContinuationToken = out.NextContinuationToken
	}
}

var _ driver.Bucket = (*Store)(nil)

// ListPage implements driver.Bucket with List.
func (s *Store) ListPage(ctx context.Context, prefix, pageToken string, pageSize int) (driver.ListPage, error) {
	p, err := s.List(ctx, prefix, &storage.ListOptions{PageToken: pageToken, PageSize: pageSize})
	if err != nil {
		return driver.ListPage{}, err
	}
	return driver.ListPage{Objects: p.Objects, NextPageToken: p.NextPageToken}, nil
}
