package main

import (
	"context"
	"encoding/base32"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/spf13/afero"

	"github.com/profilephoto/photo/storage"
	"github.com/profilephoto/photo/storage/aferostore"
)

// b32 spells random tokens: lower case, no padding, easy to copy.
var b32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// openedStore is the backend photod runs on.
type openedStore struct {
	store      storage.Store
	signingKey []byte
	describe   string // for the start-up line: which store, where
	close      func() error
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
	return &openedStore{store: st, signingKey: key, describe: "filesystem store in " + dir, close: func() error { return nil }}, nil
}

// openS3 is replaced when storage/s3store lands.
func openS3(ctx context.Context, cfg *config, getenv func(string) string, log *slog.Logger) (*openedStore, error) {
	return nil, fmt.Errorf("photod: the S3 store is not built in yet")
}
