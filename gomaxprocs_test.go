package photo_test

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	_ "github.com/profilephoto/photo"
)

// gomaxprocsChild marks the test binary run as a child of
// TestGOMAXPROCS.
const gomaxprocsChild = "PHOTO_TEST_GOMAXPROCS_CHILD"

// TestGOMAXPROCS proves that importing photo leaves GOMAXPROCS as the Go
// runtime sets it. bild, which the image pipeline imports, calls
// runtime.GOMAXPROCS(runtime.NumCPU()) in an init function: without the
// pipeline's correction a GOMAXPROCS environment variable would be
// ignored and the runtime's container-aware default turned off. The test
// runs its own binary again under each environment, since GOMAXPROCS is
// settled once, at start-up and package initialisation.
func TestGOMAXPROCS(t *testing.T) {
	if os.Getenv(gomaxprocsChild) == "1" {
		// In the child: report what package initialisation left, then
		// the runtime's own default for this machine and process.
		got := runtime.GOMAXPROCS(0)
		runtime.SetDefaultGOMAXPROCS()
		fmt.Printf("gomaxprocs-report %d %d\n", got, runtime.GOMAXPROCS(0))
		return
	}
	tests := []struct {
		name string
		env  string // "" leaves GOMAXPROCS unset
		want int    // 0: the runtime's default
	}{
		{"unset", "", 0},
		{"one", "1", 1},
		{"three", "3", 3},
		{"more than the CPUs", fmt.Sprint(runtime.NumCPU() + 5), runtime.NumCPU() + 5},
		{"zero means unset", "0", 0},
		{"negative means unset", "-2", 0},
		{"not a number", "two", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestGOMAXPROCS$", "-test.count=1")
			for _, kv := range os.Environ() {
				if !strings.HasPrefix(kv, "GOMAXPROCS=") {
					cmd.Env = append(cmd.Env, kv)
				}
			}
			cmd.Env = append(cmd.Env, gomaxprocsChild+"=1")
			if tc.env != "" {
				cmd.Env = append(cmd.Env, "GOMAXPROCS="+tc.env)
			}
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("child: %v\n%s", err, out)
			}
			got, def := -1, -1
			sc := bufio.NewScanner(bytes.NewReader(out))
			for sc.Scan() {
				if _, err := fmt.Sscanf(sc.Text(), "gomaxprocs-report %d %d", &got, &def); err == nil {
					break
				}
			}
			if got < 0 {
				t.Fatalf("child did not report:\n%s", out)
			}
			want := tc.want
			if want == 0 {
				want = def
			}
			if got != want {
				t.Errorf("GOMAXPROCS=%q: the program runs with GOMAXPROCS %d, the runtime would choose %d (NumCPU %d)", tc.env, got, want, runtime.NumCPU())
			}
		})
	}
}
