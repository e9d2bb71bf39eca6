// Package jpeg decodes JPEG images, optionally at 1/2, 1/4 or 1/8 scale in
// the DCT domain, into planes the rest of the pipeline reads without
// copies. It is written from ITU T.81 for the uploads a profile photo
// service sees.
//
// Supported: baseline and extended sequential Huffman (SOF0, SOF1) and
// progressive Huffman (SOF2: spectral selection and successive
// approximation, DC and AC, first and refinement scans); 8-bit samples;
// one component (gray), three (YCbCr, or RGB when an Adobe APP14 segment
// says transform 0 or the component ids are 'R', 'G', 'B'), four (Adobe
// CMYK or YCCK); chroma subsampling 4:4:4, 4:4:0, 4:2:2, 4:2:0, 4:1:1 and
// 4:1:0 (luma sampling factors 1, 2 or 4 across and 1 or 2 down, chroma a
// divisor of them, both chroma components alike); interleaved and
// non-interleaved scans; restart intervals (DRI, RSTn).
//
// Refused with an error wrapping ErrUnsupported: 12-bit samples,
// arithmetic coding, lossless and hierarchical modes, other sampling
// factors, two-component images, four-component images without an Adobe
// segment. The accepted set matches image/jpeg's, so the library's
// verdicts on the files it receives do not change.
//
// Errors: every error is an *Error whose Kind is ErrCorrupt, ErrTruncated,
// ErrUnsupported or ErrTooLarge. Data that ends before the image does
// (inside a header, inside entropy-coded data, or before EOI) is
// ErrTruncated, which also matches io.ErrUnexpectedEOF; a marker where
// entropy-coded data should continue, a bad Huffman code and malformed
// segments are ErrCorrupt. Like image/jpeg, a partial image is never
// returned.
//
// Scaling: at scale 1/s each output sample is the mean of the s x s
// full-size samples it covers, computed from the coefficients (the
// box-averaged basis functions of the inverse DCT, see idct.go), so pixel
// centres stay aligned: output sample i is centred on source position
// s*i + (s-1)/2. At 1/8 only the DC coefficient is used. Decode time at
// 1/8 is about the entropy decoding alone.
//
// Memory: Decode allocates the output planes (padded to whole blocks, so
// the strides can exceed the width) plus, for progressive images, 129
// bytes per 8x8 block of every component at full size, whatever the
// scale: 2 bytes a full-size sample, 36 MB for a 12 MP 4:2:0 photo.
// Baseline images need nothing more than the planes and about 50 KB of
// decoder state (Huffman lookahead tables).
// Options.MaxPixels refuses large frames before anything is allocated, and
// allocation waits for the first scan, so a header alone costs nothing.
// At most 100 scans are read (each may visit every block).
//
// Cores: with Options.Pool set and one of its tokens free, Decode uses a
// second goroutine (pipeline.go). For a sequential scan the calling
// goroutine does the entropy decoding, which is serial, and hands each
// finished group of MCU rows, as compact coefficient records, through a
// ring of three buffers to a helper that dequantizes, transforms and
// writes the planes; the buffers hold about 4096 blocks each at 8 bytes
// plus 4 a non-zero coefficient (1.5 MB for a 12 MP phone photo), whatever
// the height. For a progressive image the final transform of the stored
// coefficients is split by block rows across the free tokens. The output
// is the same, byte for byte, and so is every error; a panic on a helper
// is returned as an error. Without a free token (or with a nil Pool, or
// for a scan under 6144 blocks, about 512x512 pixels) everything runs on
// the calling goroutine, which must hold a token of the Pool as package
// sched requires. Restart intervals are not used to split the entropy
// decoding: the phone photos this is for have none.
package jpeg
