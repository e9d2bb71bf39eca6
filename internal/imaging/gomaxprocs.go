package imaging

import (
	"os"
	"runtime"
	"strconv"
)

// init undoes a side effect of importing bild: its parallel package's init
// calls runtime.GOMAXPROCS(runtime.NumCPU()), which overrides a GOMAXPROCS
// environment variable and turns off the runtime's container-aware default
// (CPU quota and affinity, updated as they change). Package initialisation
// runs imported packages first, so this runs after bild's and restores what
// the program would have had without bild.
func init() {
	// The runtime parses the variable the same way (base 10, 32 bits,
	// positive) and otherwise uses its default.
	if n, err := strconv.ParseInt(os.Getenv("GOMAXPROCS"), 10, 32); err == nil && n > 0 {
		runtime.GOMAXPROCS(int(n))
		return
	}
	runtime.SetDefaultGOMAXPROCS()
}
