package main

import (
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
)

// signingKeyEnv names the environment variable that, when set, gives the
// key that signs Chatter's expiring email photo URLs. Every instance
// sharing one S3 bucket should get the same value, so that a URL signed by
// one is honoured by all.
const signingKeyEnv = "PHOTOD_SIGNING_KEY"

// signingKeySize is the length of a generated key; an environment key of
// any length is hashed down to it.
const signingKeySize = 32

// signingKey returns the key for the email photo URLs: from
// PHOTOD_SIGNING_KEY when set; else, with the filesystem store, from the
// file at path (created 0600 with a random key on first use, so URLs keep
// working across restarts); else (path empty: S3) a random key, with a
// warning that URLs will not survive a restart.
func signingKey(getenv func(string) string, path string, log *slog.Logger) ([]byte, error) {
	if v := getenv(signingKeyEnv); v != "" {
		if len(v) < 16 {
			return nil, fmt.Errorf("photod: %s must be at least 16 characters", signingKeyEnv)
		}
		sum := sha256.Sum256([]byte(v))
		return sum[:], nil
	}
	if path == "" {
		log.Warn("photod: no " + signingKeyEnv + " set: email photo URLs are signed with a random key and stop working on restart")
		return randomBytes(signingKeySize), nil
	}
	key, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		key, err = createKeyFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("photod: signing key: %w", err)
	}
	if len(key) < signingKeySize {
		return nil, fmt.Errorf("photod: signing key %s is shorter than %d bytes; remove it to make a new one", path, signingKeySize)
	}
	return key, nil
}

// createKeyFile writes a new random key to path, unless another process
// has just done so, in which case it reads theirs. The key is written to a
// temporary file and linked into place, so no reader sees a short key.
func createKeyFile(path string) ([]byte, error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".signing-key-*")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name())
	key := randomBytes(signingKeySize)
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return nil, err
	}
	if _, err := tmp.Write(key); err != nil {
		tmp.Close()
		return nil, err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return nil, err
	}
	if err := tmp.Close(); err != nil {
		return nil, err
	}
	// Link fails if the key exists: the first process to create it wins and
	// every other uses the winner's key.
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return os.ReadFile(path)
		}
		return nil, err
	}
	return key, nil
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand panics rather than return an error)
	return b
}
