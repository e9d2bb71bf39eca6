//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package aferostore

import (
	"os"
	"syscall"
)

const flockSupported = true

// flock takes an exclusive lock on f, waiting for it. The lock belongs to
// the open file, so goroutines and processes that each open the lock file
// exclude one another.
func flock(f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if err != syscall.EINTR {
			return err
		}
	}
}
