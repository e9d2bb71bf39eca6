package main

import (
	"fmt"
	"log/slog"
	"math"
	"runtime/debug"
	"strconv"
	"strings"
)

// byteSize is a flag of a number of bytes: a whole number with an optional
// binary unit (KiB, MiB, GiB), e.g. 512MiB. The zero value means unset.
type byteSize int64

var units = []struct {
	suffix string
	shift  uint
}{{"GiB", 30}, {"MiB", 20}, {"KiB", 10}, {"B", 0}}

// String implements flag.Value.
func (b *byteSize) String() string {
	if b == nil || *b == 0 {
		return ""
	}
	for _, u := range units {
		if int64(*b)%(1<<u.shift) == 0 {
			return strconv.FormatInt(int64(*b)>>u.shift, 10) + u.suffix
		}
	}
	return strconv.FormatInt(int64(*b), 10)
}

// Set implements flag.Value.
func (b *byteSize) Set(v string) error {
	s := strings.TrimSpace(v)
	var shift uint
	for _, u := range units {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			s, shift = strings.TrimSpace(n), u.shift
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 || n > math.MaxInt64>>shift {
		return fmt.Errorf("not a positive size in bytes (e.g. 512MiB, 1GiB): %q", v)
	}
	*b = byteSize(n << shift)
	return nil
}

// The usage texts of -memory-budget and -memory-limit.
const (
	memoryBudgetHelp = "memory that images being decoded and rendered at once may take, estimated from each image's header (`size`: bytes, or with KiB, MiB or GiB); an upload that finds no room within 5 seconds is refused as busy, to be retried (default 512MiB)"
	memoryLimitHelp  = "the Go runtime's soft memory limit (`size`), as GOMEMLIMIT sets it; default: the GOMEMLIMIT environment variable if set, else 1.5 times -memory-budget"
)

// applyMemoryLimit sets the runtime's soft memory limit: flagLimit if
// given, else the GOMEMLIMIT environment variable (which the runtime has
// applied already), else one and a half times budget, the memory budget
// in force (the library's default when -memory-budget is not given), which
// leaves the garbage collector headroom above what renders hold. It
// returns the limit in force and where it came from.
func applyMemoryLimit(flagLimit byteSize, budget int64, getenv func(string) string) (int64, string) {
	switch {
	case flagLimit > 0:
		debug.SetMemoryLimit(int64(flagLimit))
		return int64(flagLimit), "-memory-limit"
	case getenv("GOMEMLIMIT") != "":
		return debug.SetMemoryLimit(-1), "GOMEMLIMIT"
	}
	limit := budget + budget/2
	debug.SetMemoryLimit(limit)
	return limit, "default"
}

// logMemory records the memory settings at startup: the budget in force
// and the runtime's limit.
func logMemory(log *slog.Logger, limit int64, from string, budget int64) {
	log.Info("photod: memory", "budget_mib", budget>>20, "gomemlimit_mib", limit>>20, "gomemlimit_from", from)
}
