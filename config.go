package photo

// The Manager's settings: Options with their defaults filled in.

import (
	"fmt"
	"image/color"
	"log/slog"
	"runtime"
	"slices"
	"time"

	"github.com/profilephoto/photo/internal/webpenc"
)

// fill fills in the defaults of o, which it checks.
func (o *Options) fill() error {
	o.Limits = o.Limits.withDefaults()
	o.Quotas = o.Quotas.withDefaults()
	if o.Sizes == nil {
		o.Sizes = []int{24, 32, 48, 64, 72, 160, 192, 200, 512, 1024}
	} else {
		o.Sizes = slices.Clone(o.Sizes)
	}
	slices.Sort(o.Sizes)
	o.Sizes = slices.Compact(o.Sizes)
	if len(o.Sizes) == 0 || o.Sizes[0] < 1 || o.Sizes[len(o.Sizes)-1] > 4096 {
		return fmt.Errorf("Options.Sizes must be between 1 and 4096 pixels, got %v", o.Sizes)
	}
	if o.OnDemandSizes == nil {
		o.OnDemandSizes = []int{16, 40, 80, 96, 100, 128, 150, 256, 300, 384, 400, 640, 800}
	} else {
		o.OnDemandSizes = slices.Clone(o.OnDemandSizes)
	}
	largest := o.Sizes[len(o.Sizes)-1]
	o.OnDemandSizes = slices.DeleteFunc(o.OnDemandSizes, func(s int) bool {
		return s < 1 || s > largest || slices.Contains(o.Sizes, s)
	})
	slices.Sort(o.OnDemandSizes)
	o.OnDemandSizes = slices.Compact(o.OnDemandSizes)
	if o.Fit == 0 {
		o.Fit = Letterbox
	}
	if !o.Fit.valid() {
		return fmt.Errorf("Options.Fit: unknown fit %d", int(o.Fit))
	}
	if o.Background == nil {
		o.Background = color.White
	}
	if o.JPEGQuality == 0 {
		o.JPEGQuality = 85
	}
	if o.JPEGQuality < 1 || o.JPEGQuality > 100 {
		return fmt.Errorf("Options.JPEGQuality %d is not between 1 and 100", o.JPEGQuality)
	}
	switch {
	case o.WebPQuality == 0:
		o.WebPQuality = webpenc.DefaultQuality
	case o.WebPQuality < 0:
		o.WebPQuality = -1
	case o.WebPQuality > 100:
		return fmt.Errorf("Options.WebPQuality %d is above 100", o.WebPQuality)
	}
	if o.OriginalMaxSide <= 0 {
		o.OriginalMaxSide = 2048
	}
	if o.MemoryBudget <= 0 {
		o.MemoryBudget = defaultMemoryBudget
	}
	if o.MaxWait <= 0 {
		o.MaxWait = defaultMaxWait
	}
	if o.MaxConcurrent <= 0 {
		o.MaxConcurrent = runtime.GOMAXPROCS(0)
	}
	if o.ImportTimeout <= 0 {
		o.ImportTimeout = 10 * time.Minute
	}
	if o.KeepVersions < 0 || o.KeepVersions > maxKeepVersions {
		return fmt.Errorf("Options.KeepVersions %d is not between 0 and %d: %w", o.KeepVersions, maxKeepVersions, CodeBadArgument)
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.EventQueue <= 0 {
		o.EventQueue = 1024
	}
	if o.RedeliverAfter <= 0 {
		o.RedeliverAfter = defaultRedeliverAfter
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.DefaultCacheBytes == 0 {
		o.DefaultCacheBytes = defaultCacheBytes
	}
	return nil
}

// maxKeepVersions bounds Options.KeepVersions: a record lists every kept
// version (about 2 KB each), and each holds a Set's renditions.
const maxKeepVersions = 100

// config is what the Manager's methods read of its options.
type config struct {
	limits          Limits
	quotas          Quotas
	maxWait         time.Duration
	sizes           []int
	onDemand        []int
	fit             Fit
	background      color.NRGBA
	quality         int
	webpQuality     int // -1: WebP off
	originalMaxSide int
	importTimeout   time.Duration
	log             *slog.Logger
	now             func() time.Time
}

func (l Limits) withDefaults() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = 20 << 20
	}
	if l.MinSide <= 0 {
		l.MinSide = 1
	}
	if l.MaxSide <= 0 {
		l.MaxSide = 10000
	}
	if l.MaxPixels <= 0 {
		l.MaxPixels = 50_000_000
	}
	if l.MaxFrames <= 0 {
		l.MaxFrames = 100
	}
	if l.MaxMetadataBytes <= 0 {
		l.MaxMetadataBytes = 1 << 20
	}
	return l
}
