package httpadapter

import (
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/profilephoto/photo"
)

// photoCodes returns every constant of type photo.Code that the photo
// package declares, by name, read from its source: a constant added there
// shows up here without anyone listing it.
func photoCodes(t *testing.T) map[string]photo.Code {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	codes := map[string]photo.Code{}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		if f.Name.Name != "photo" {
			continue
		}
		for _, decl := range f.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != "Code" {
					continue
				}
				for i, n := range vs.Names {
					lit, ok := vs.Values[i].(*ast.BasicLit)
					if !ok || lit.Kind != token.STRING {
						t.Fatalf("%s: photo.%s is not a string literal", fset.Position(n.Pos()), n.Name)
					}
					v, err := strconv.Unquote(lit.Value)
					if err != nil {
						t.Fatal(err)
					}
					codes[n.Name] = photo.Code(v)
				}
			}
		}
	}
	// The kinds and codes this file names itself, so that a parse that
	// finds nothing cannot pass.
	for name, c := range map[string]photo.Code{"ErrInvalidInput": photo.ErrInvalidInput, "CodeBadRange": photo.CodeBadRange, "CodeDownloadInterrupted": photo.CodeDownloadInterrupted} {
		if codes[name] != c {
			t.Fatalf("photo.%s not found in the photo package's source (found %d codes)", name, len(codes))
		}
	}
	return codes
}

// TestCodeKinds checks that codeKinds maps every Code constant of the
// photo package, and nothing else, to a kind that has a wording; and that
// classify uses it, with the library's safe message (never "photo: ")
// or, for not-found, conflict and busy, the table's.
func TestCodeKinds(t *testing.T) {
	codes := photoCodes(t)
	known := map[photo.Code]bool{}
	for name, c := range codes {
		known[c] = true
		k, ok := codeKinds[c]
		if !ok {
			t.Errorf("photo.%s (%q) has no kind in codeKinds", name, string(c))
			continue
		}
		if _, ok := wordings[k]; !ok || k == kInternal {
			t.Errorf("photo.%s maps to kind %d, which has no wording or is internal", name, k)
		}
		gotK, msg := classify(&photo.Error{Code: c})
		if gotK != k {
			t.Errorf("classify(photo.%s) = kind %d, want %d", name, gotK, k)
		}
		if msg == "" || strings.Contains(msg, "photo:") {
			t.Errorf("classify(photo.%s) message %q", name, msg)
		}
	}
	for c := range codeKinds {
		if !known[c] {
			t.Errorf("codeKinds maps %q, which is no Code constant of the photo package", string(c))
		}
	}

	for _, c := range []struct {
		err  error
		kind kind
		msg  string
	}{
		{&photo.Error{Code: photo.CodeCorrupt, Message: "the PNG data is corrupt"}, kBadImage, "the PNG data is corrupt"},
		{&photo.Error{Code: photo.CodeBadArgument, Message: "the file name is too long"}, kBadRequest, "the file name is too long"},
		{&photo.Error{Code: photo.ErrQuotaExceeded, Message: "quota exceeded: at most 10 open uploads per user"}, kQuota, "quota exceeded: at most 10 open uploads per user"},
		{&photo.Error{Code: photo.ErrNotFound, Message: "the file does not exist"}, kNotFound, wordings[kNotFound].message},
		{&photo.Error{Code: photo.ErrConflict, Message: "revision conflict"}, kConflict, wordings[kConflict].message},
		{&photo.Error{Code: photo.ErrBusy, Err: errors.New("memory budget: 512 MiB taken")}, kServerBusy, wordings[kServerBusy].message},
		{&photo.Error{Code: photo.CodeBadRange, Message: "the chunk ends past the declared length"}, kRangeInvalid, "the chunk ends past the declared length"},
		{&photo.Error{Code: photo.CodeUploadConflict}, kRangeConflict, (&photo.Error{Code: photo.CodeUploadConflict}).SafeMessage()},
		{photo.CodeBadCrop, kInternal, wordings[kInternal].message}, // the library never returns a bare Code
	} {
		k, msg := classify(c.err)
		if k != c.kind || msg != c.msg {
			t.Errorf("classify(%v) = %d %q, want %d %q", c.err, k, msg, c.kind, c.msg)
		}
	}
}

// TestImportCodes checks profile-image's words for a failed import, as
// GET shows them: kebab-case, from the table's importCode column.
func TestImportCodes(t *testing.T) {
	want := map[photo.Code]string{
		photo.CodeURLNotAllowed:       "url-not-allowed",
		photo.CodeDownloadFailed:      "download-failed",
		photo.CodeDownloadInterrupted: "download-interrupted",
		photo.CodeFileTooLarge:        "file-too-large",
		photo.CodeImageTooLarge:       "file-too-large",
		photo.CodeNotImage:            "invalid-file-format",
		photo.CodeUnsupportedFormat:   "invalid-file-format",
		photo.CodeCorrupt:             "invalid-file-format",
		photo.CodeTruncated:           "invalid-file-format",
		photo.CodeTooSmall:            "invalid-file-format",
		photo.CodeTooManyFrames:       "invalid-file-format",
		photo.CodeMissing:             "field-missing",
		photo.CodeBadArgument:         "download-failed",
		photo.CodeRefused:             "image-refused",
		"a_code_from_the_future":      "download-failed",
	}
	for c, w := range want {
		if got := importCode(c); got != w {
			t.Errorf("importCode(%q) = %q, want %q", string(c), got, w)
		}
	}
}
