package aferostore

import (
	"strings"
	"unicode/utf8"
)

// How keys become paths.
//
// A key's "/"-separated segments become nested names under the root. Each
// name is the segment percent-escaped so that it is a safe, portable file
// name whatever the key holds:
//
//   - a-z, 0-9, '-', '_' and '.' stay as they are, except a '.' that starts
//     or ends a name (so no name is ".", "..", hidden, or ends in a dot,
//     which Windows strips);
//   - every other byte, upper-case letters included (case-insensitive file
//     systems must not merge "A" and "a"), becomes %XX with upper-case hex.
//
// A segment that is a directory of further keys gets the suffix '~', so the
// key "a" (a file named "a") and the key "a/b" (the file "b" in the
// directory "a~") can both exist. An escaped segment longer than
// maxName bytes is cut, at rune boundaries, into pieces: every piece but
// the last is a directory with the suffix '+', so a 1 KiB segment of
// non-ASCII text (3 KiB escaped) still fits the 255-byte limit of common
// file systems. '~', '+' and a leading '.' never appear in an escaped
// segment, so decoding is unambiguous and names starting with '.' are free
// for the store's own files (".tmp-*", ".locks").
//
// The mapping is reversible: ListPage walks the tree and decodes the names back
// into keys. Names that do not decode to exactly themselves are not the
// store's and are skipped.

const (
	// maxName bounds the length of one escaped name, suffix included.
	maxName = 240
	dirMark = '~'
	// contMark ends a piece of a segment too long for one name.
	contMark = '+'
)

func safeByte(c byte) bool {
	return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.'
}

const hexDigits = "0123456789ABCDEF"

// escapePiece escapes one name's worth of a segment.
func escapePiece(piece string) string {
	var b strings.Builder
	for i := 0; i < len(piece); i++ {
		c := piece[i]
		if safeByte(c) && !(c == '.' && (i == 0 || i == len(piece)-1)) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}

// escapedLen is how many bytes escapePiece turns c into (ignoring the dot
// rule, which the caller accounts for).
func escapedLen(c byte) int {
	if safeByte(c) {
		return 1
	}
	return 3
}

// splitSegment cuts seg into pieces whose escaped forms, with one suffix
// byte, fit maxName. Cuts fall between runes.
func splitSegment(seg string) []string {
	var pieces []string
	start, n := 0, 0
	for i := 0; i < len(seg); {
		_, size := utf8.DecodeRuneInString(seg[i:])
		w := 0
		for j := i; j < i+size; j++ {
			w += escapedLen(seg[j])
		}
		// 4 bytes of slack: a '.' that starts or ends a piece is escaped.
		if n+w+4 > maxName-1 && i > start {
			pieces = append(pieces, seg[start:i])
			start, n = i, 0
		}
		n += w
		i += size
	}
	return append(pieces, seg[start:])
}

// keyPath returns the directory (with a leading "/") and the file name that
// hold key, which must be valid.
func keyPath(key string) (dir, name string) {
	var b strings.Builder
	segs := strings.Split(key, "/")
	for i, seg := range segs {
		pieces := splitSegment(seg)
		for j, p := range pieces {
			last := j == len(pieces)-1
			e := escapePiece(p)
			switch {
			case !last:
				b.WriteByte('/')
				b.WriteString(e)
				b.WriteByte(contMark)
			case i < len(segs)-1:
				b.WriteByte('/')
				b.WriteString(e)
				b.WriteByte(dirMark)
			default:
				name = e
			}
		}
	}
	dir = b.String()
	if dir == "" {
		dir = "/"
	}
	return dir, name
}

// prefixDir returns the deepest directory that holds every key starting
// with prefix, and the part of the key that this directory stands for.
// Walking from there instead of the root keeps ListPage proportional to what it
// returns.
func prefixDir(prefix string) (dir, keyPrefix string) {
	i := strings.LastIndexByte(prefix, '/')
	if i < 0 {
		return "/", ""
	}
	d, _ := keyPath(prefix[:i] + "/x")
	return d, prefix[:i+1]
}

// entry kinds of decodeName.
const (
	kindFile = iota
	kindDir
	kindCont
)

// decodeName turns a directory entry back into the piece of key it stands
// for. ok is false for the store's own files and for foreign names.
func decodeName(name string) (piece string, kind int, ok bool) {
	if name == "" || name[0] == '.' {
		return "", 0, false
	}
	e := name
	switch name[len(name)-1] {
	case dirMark:
		kind, e = kindDir, name[:len(name)-1]
	case contMark:
		kind, e = kindCont, name[:len(name)-1]
	default:
		kind = kindFile
	}
	var b strings.Builder
	for i := 0; i < len(e); i++ {
		c := e[i]
		if c != '%' {
			b.WriteByte(c)
			continue
		}
		if i+2 >= len(e) {
			return "", 0, false
		}
		hi, lo := strings.IndexByte(hexDigits, e[i+1]), strings.IndexByte(hexDigits, e[i+2])
		if hi < 0 || lo < 0 {
			return "", 0, false
		}
		b.WriteByte(byte(hi<<4 | lo))
		i += 2
	}
	piece = b.String()
	// Only the canonical spelling is ours: this refuses foreign files and
	// keeps one key from having two names.
	if piece == "" || escapePiece(piece) != e || !utf8.ValidString(piece) {
		return "", 0, false
	}
	return piece, kind, true
}
