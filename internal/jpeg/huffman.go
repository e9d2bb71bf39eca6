package jpeg

import "encoding/binary"

// lookBits is the width of the Huffman lookahead: codes up to this many bits
// resolve with one table read.
const lookBits = 10

// huffTable is one decoding table built from a DHT segment (T.81 C and
// F.2.2.3, written as canonical code ranges per length).
type huffTable struct {
	defined bool
	// fast maps the next lookBits bits to length<<8 | symbol; 0 when the
	// code is longer than lookBits (or invalid).
	fast [1 << lookBits]uint16
	// fastAC, for AC tables, resolves a code and the value bits after it
	// when both fit in lookBits: value<<16 | run<<12 | code length<<8 |
	// total length; 0 otherwise (and for EOB and ZRL).
	fastAC [1 << lookBits]int32
	// For each length l: codes of that length are minCode[l]..maxCode[l]
	// (maxCode[l] is -1 when there are none); their symbols start at
	// vals[first[l]].
	minCode [17]int32
	maxCode [18]int32
	first   [17]int32
	vals    [256]byte
}

// build fills t from the 16 code counts and the symbols of a DHT entry.
func (t *huffTable) build(counts *[16]byte, vals []byte) error {
	*t = huffTable{}
	code, k := int32(0), int32(0)
	for l := 1; l <= 16; l++ {
		n := int32(counts[l-1])
		t.first[l] = k
		t.minCode[l] = code
		code += n
		k += n
		if code > 1<<l {
			return corrupt("bad Huffman table: too many codes of one length")
		}
		if n > 0 {
			t.maxCode[l] = code - 1
		} else {
			t.maxCode[l] = -1
		}
		code <<= 1
	}
	t.maxCode[17] = 1 << 30 // sentinel, never reached
	copy(t.vals[:], vals)
	// Lookahead entries.
	code, k = 0, 0
	for l := 1; l <= 16; l++ {
		n := int(counts[l-1])
		for i := 0; i < n; i++ {
			if l <= lookBits {
				e := uint16(l)<<8 | uint16(vals[k])
				lo := int(code) << (lookBits - l)
				hi := lo + 1<<(lookBits-l)
				for j := lo; j < hi; j++ {
					t.fast[j] = e
					r, sz := int32(vals[k]>>4), l+int(vals[k]&15)
					if sz == l || sz > lookBits {
						continue
					}
					s := uint(vals[k] & 15)
					v := int32(j>>uint(lookBits-sz)) & (1<<s - 1)
					if v < 1<<(s-1) {
						v += -1<<s + 1
					}
					t.fastAC[j] = v<<16 | r<<12 | int32(l)<<8 | int32(sz)
				}
			}
			code++
			k++
		}
		code <<= 1
	}
	t.defined = true
	return nil
}

// bitReader reads entropy-coded data: acc holds nb valid bits, most
// significant first. At a marker or at the end of the data it feeds zero
// bits and counts them in pad, so that a scan which really ends there can
// finish; consuming any of those bits (nb < pad) is an overrun, reported
// as truncation at the end of the data and as corruption at a marker.
type bitReader struct {
	data []byte
	pos  int
	acc  uint64
	nb   int
	pad  int
	stop bool // a marker or the end of the data was reached
	eof  bool // ... and it was the end of the data
}

func (b *bitReader) reset(pos int) {
	b.pos, b.acc, b.nb, b.pad, b.stop, b.eof = pos, 0, 0, 0, false, false
}

// fill tops acc up to at least 57 bits.
func (b *bitReader) fill() {
	data := b.data
	if !b.stop && b.pos+8 <= len(data) {
		// Fast path: eight bytes without 0xff. The bytes past the whole
		// ones taken land below nb, exactly where the next fill puts them
		// again, so they do no harm.
		w := binary.BigEndian.Uint64(data[b.pos:])
		x := ^w
		if (x-0x0101010101010101)&^x&0x8080808080808080 == 0 {
			n := (63 - b.nb) >> 3
			b.acc |= w >> uint(b.nb)
			b.nb += n << 3
			b.pos += n
			return
		}
	}
	for b.nb <= 56 {
		if !b.stop {
			p := b.pos
			if p < len(data) {
				c := data[p]
				if c != 0xff {
					b.pos = p + 1
					b.acc |= uint64(c) << uint(56-b.nb)
					b.nb += 8
					continue
				}
				if p+1 < len(data) {
					if data[p+1] == 0 {
						b.pos = p + 2
						b.acc |= uint64(0xff) << uint(56-b.nb)
						b.nb += 8
						continue
					}
					b.stop = true // a marker
				} else {
					b.stop, b.eof = true, true
				}
			} else {
				b.stop, b.eof = true, true
			}
		}
		b.nb += 8
		b.pad += 8
	}
}

// overrun reports whether bits beyond the real data were consumed.
func (b *bitReader) overrun() bool { return b.nb < b.pad }

// overrunError is the error for an overrun.
func (b *bitReader) overrunError() error {
	if b.eof {
		return truncated("entropy-coded data ends early")
	}
	return corrupt("marker inside entropy-coded data")
}

// decode reads one Huffman-coded symbol.
func (b *bitReader) decode(t *huffTable) (byte, error) {
	if b.nb < 16 {
		b.fill()
	}
	if e := t.fast[b.acc>>(64-lookBits)]; e != 0 {
		n := int(e >> 8)
		b.acc <<= uint(n)
		b.nb -= n
		return byte(e), nil
	}
	for l := lookBits + 1; l <= 16; l++ {
		code := int32(b.acc >> uint(64-l))
		if code <= t.maxCode[l] {
			b.acc <<= uint(l)
			b.nb -= l
			return t.vals[(t.first[l]+code-t.minCode[l])&0xff], nil
		}
	}
	if b.overrun() || b.nb-16 < b.pad {
		return 0, b.overrunError()
	}
	return 0, corrupt("bad Huffman code")
}

// receive reads s (1..16) bits and sign-extends them as T.81 F.2.2.1's
// EXTEND does.
func (b *bitReader) receive(s int) int32 {
	if b.nb < s {
		b.fill()
	}
	v := int32(b.acc >> uint(64-s))
	b.acc <<= uint(s)
	b.nb -= s
	if v < 1<<uint(s-1) {
		v += -1<<uint(s) + 1
	}
	return v
}

// bits reads s (0..16) bits as an unsigned number.
func (b *bitReader) bits(s int) int32 {
	if s == 0 {
		return 0
	}
	if b.nb < s {
		b.fill()
	}
	v := int32(b.acc >> uint(64-s))
	b.acc <<= uint(s)
	b.nb -= s
	return v
}

// bit reads one bit.
func (b *bitReader) bit() bool {
	if b.nb < 1 {
		b.fill()
	}
	v := b.acc>>63 != 0
	b.acc <<= 1
	b.nb--
	return v
}
