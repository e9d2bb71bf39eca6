package main

import (
	"context"
	"encoding/base32"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/afero"

	"github.com/profilephoto/photo/storage"
	"github.com/profilephoto/photo/storage/aferostore"
	"github.com/profilephoto/photo/storage/driver"
	"github.com/profilephoto/photo/storage/s3store"
)

// b32 spells random tokens: lower case, no padding, easy to copy.
var b32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// openedStore is the backend photod runs on.
type openedStore struct {
	// driver is the backend itself, for what only it can do (the
	// filesystem store's Tidy); bucket is the portable store over it,
	// which the photo library uses.
	driver     driver.Bucket
	bucket     *storage.Bucket
	signingKey []byte
	describe   string // for the start-up line: which store, where
}

// The filesystem store's layout under -data: the objects live in a
// directory of their own, so that nothing of photod's (the signing key)
// sits among the store's files.
const (
	objectsDir     = "store"
	signingKeyFile = "signing-key"
)

// openStore opens the backend the flags ask for: S3 with -s3-bucket, else
// the filesystem under -data (created if missing).
func openStore(ctx context.Context, cfg *config, getenv func(string) string, log *slog.Logger) (*openedStore, error) {
	if cfg.useS3() {
		return openS3(ctx, cfg, getenv, log)
	}
	dir, err := filepath.Abs(cfg.dataDir)
	if err != nil {
		return nil, fmt.Errorf("photod: -data: %w", err)
	}
	objects := filepath.Join(dir, objectsDir)
	if err := os.MkdirAll(objects, 0o700); err != nil {
		return nil, fmt.Errorf("photod: -data: %w", err)
	}
	key, err := signingKey(getenv, filepath.Join(dir, signingKeyFile), log)
	if err != nil {
		return nil, err
	}
	st, err := aferostore.New(afero.NewBasePathFs(afero.NewOsFs(), objects), nil)
	if err != nil {
		return nil, fmt.Errorf("photod: filesystem store in %s: %w", objects, err)
	}
	return &openedStore{driver: st, bucket: storage.NewBucket(st), signingKey: key, describe: "filesystem store in " + dir}, nil
}

// openS3 opens the bucket of -s3-bucket. Credentials come from the usual
// AWS sources (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE,
// roles); a custom -s3-endpoint is addressed path-style (ENDPOINT/BUCKET),
// as MinIO, versitygw and Ceph need. One listing call at start makes a
// wrong bucket, endpoint or credentials fail now rather than on the first
// upload.
func openS3(ctx context.Context, cfg *config, getenv func(string) string, log *slog.Logger) (*openedStore, error) {
	key, err := signingKey(getenv, "", log)
	if err != nil {
		return nil, err
	}
	st, err := s3store.Open(ctx, s3store.Config{
		Endpoint:  cfg.s3Endpoint,
		Region:    cfg.s3Region,
		Bucket:    cfg.s3Bucket,
		Prefix:    cfg.s3Prefix,
		PathStyle: cfg.s3Endpoint != "",
	})
	if err != nil {
		return nil, fmt.Errorf("photod: %w", err)
	}
	where := "s3://" + cfg.s3Bucket + "/" + cfg.s3Prefix
	if cfg.s3Endpoint != "" {
		where += " at " + cfg.s3Endpoint
	}
	b := storage.NewBucket(st)
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for _, err := range b.List(cctx, "users/") {
		if err != nil {
			return nil, fmt.Errorf("photod: S3 store %s: %w", where, err)
		}
		break // one object is proof enough
	}
	return &openedStore{driver: st, bucket: b, signingKey: key, describe: "S3 store " + where}, nil
}
