//go:build vips

// The libvips comparison needs cgo and libvips-dev, so it is built only
// with -tags vips (scripts/bench.sh): without the tag the module builds,
// vets and runs anywhere, and libvips rows are left out.

package main

// #cgo pkg-config: vips
// #include <stdlib.h>
// #include <vips/vips.h>
//
// static int load_jpeg(void *buf, size_t len, int shrink, VipsImage **out) {
//     return vips_jpegload_buffer(buf, len, out, "shrink", shrink, NULL);
// }
// static int extract(VipsImage *in, VipsImage **out, int x, int y, int w, int h) {
//     return vips_extract_area(in, out, x, y, w, h, NULL);
// }
// static int resize(VipsImage *in, VipsImage **out, double scale) {
//     return vips_resize(in, out, scale, "kernel", VIPS_KERNEL_LANCZOS3, NULL);
// }
// static int save_jpeg(VipsImage *in, void **buf, size_t *len, int q) {
//     return vips_jpegsave_buffer(in, buf, len, "Q", q, "strip", TRUE, NULL);
// }
// static int copy_memory(VipsImage *in, VipsImage **out) {
//     *out = vips_image_copy_memory(in);
//     return *out == NULL ? -1 : 0;
// }
import "C"

import (
	"errors"
	"runtime"
	"unsafe"
)

// vipsAvailable tells whether this build can run libvips.
const vipsAvailable = true

func vipsInit() error {
	name := C.CString("photobench")
	defer C.free(unsafe.Pointer(name))
	if C.vips_init(name) != 0 {
		return errors.New("vips_init failed")
	}
	// Match the Go side: libvips may use every core, as Set may.
	C.vips_concurrency_set(C.int(runtime.GOMAXPROCS(0)))
	C.vips_cache_set_max(0)
	return nil
}

func vipsError() error {
	msg := C.GoString(C.vips_error_buffer())
	C.vips_error_clear()
	return errors.New("libvips: " + msg)
}

// vipsRenditions makes the square renditions of sizes (descending order
// is made here) from the JPEG in data, cropped to the square (x, y, side):
// shrink-on-load to the largest scale that keeps the crop at least as big
// as the largest size, then each size from the previous one, JPEG at
// quality q with metadata stripped. It returns the encoded bytes in the
// order of sizes given.
func vipsRenditions(data []byte, x, y, side int, sizes []int, q int) ([][]byte, error) {
	largest := 0
	for _, s := range sizes {
		largest = max(largest, s)
	}
	shrink := 1
	for shrink < 8 && side/(shrink*2) >= largest {
		shrink *= 2
	}
	cbuf := C.CBytes(data)
	defer C.free(cbuf)
	var img *C.VipsImage
	if C.load_jpeg(cbuf, C.size_t(len(data)), C.int(shrink), &img) != 0 {
		return nil, vipsError()
	}
	defer C.g_object_unref(C.gpointer(img))
	var crop *C.VipsImage
	cs := side / shrink
	if C.extract(img, &crop, C.int(x/shrink), C.int(y/shrink), C.int(cs), C.int(cs)) != 0 {
		return nil, vipsError()
	}
	defer C.g_object_unref(C.gpointer(crop))
	// Decode once into memory: every size is made from the one before.
	var cur *C.VipsImage
	if C.copy_memory(crop, &cur) != 0 {
		return nil, vipsError()
	}
	curSide := cs
	out := make([][]byte, len(sizes))
	order := make([]int, len(sizes))
	for i := range order {
		order[i] = i
	}
	// Largest first.
	for i := range order {
		for j := i + 1; j < len(order); j++ {
			if sizes[order[j]] > sizes[order[i]] {
				order[i], order[j] = order[j], order[i]
			}
		}
	}
	for _, i := range order {
		s := sizes[i]
		next := cur
		if s < curSide {
			var r *C.VipsImage
			if C.resize(cur, &r, C.double(float64(s)/float64(curSide))) != 0 {
				C.g_object_unref(C.gpointer(cur))
				return nil, vipsError()
			}
			var m *C.VipsImage
			rc := C.copy_memory(r, &m)
			C.g_object_unref(C.gpointer(r))
			if rc != 0 {
				C.g_object_unref(C.gpointer(cur))
				return nil, vipsError()
			}
			C.g_object_unref(C.gpointer(cur))
			next, curSide = m, s
		}
		cur = next
		var buf unsafe.Pointer
		var n C.size_t
		if C.save_jpeg(cur, &buf, &n, C.int(q)) != 0 {
			C.g_object_unref(C.gpointer(cur))
			return nil, vipsError()
		}
		out[i] = C.GoBytes(buf, C.int(n))
		C.g_free(C.gpointer(buf))
	}
	C.g_object_unref(C.gpointer(cur))
	return out, nil
}
