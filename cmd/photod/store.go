package main

import (
	"context"
	"encoding/base32"
	"log/slog"

	"github.com/profilephoto/photo/storage"
	"github.com/profilephoto/photo/storage/memstore"
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

// openStore opens the backend the flags ask for.
// TEMPORARY: memstore until storage/aferostore lands.
func openStore(ctx context.Context, cfg *config, getenv func(string) string, log *slog.Logger) (*openedStore, error) {
	key, err := signingKey(getenv, "", log)
	if err != nil {
		return nil, err
	}
	return &openedStore{store: memstore.New(), signingKey: key, describe: "memory", close: func() error { return nil }}, nil
}
