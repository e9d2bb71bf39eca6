package httpadapter

import (
	"context"
	"net/netip"
)

// URLImportOptions configure profile-image's set-from-URL.
type URLImportOptions struct {
	// Allow lists networks the import may fetch from besides public
	// addresses (photod's -url-import-allow).
	Allow []netip.Prefix
}

type importer struct{}

func newImporter(h *Handler, o URLImportOptions) (*importer, error) { return &importer{}, nil }

func (i *importer) close(ctx context.Context) error { return nil }
