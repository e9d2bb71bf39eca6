package imaging

import (
	"math"
	"runtime"
)

func cosApprox(x float64) float64 { return math.Cos(x) }

func runtimeGOMAXPROCS(n int) int { return runtime.GOMAXPROCS(n) }
