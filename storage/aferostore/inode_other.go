//go:build !unix

package aferostore

import "io/fs"

// inode reports that this system tells no inode numbers.
func inode(fs.FileInfo) (dev, ino uint64, ok bool) { return 0, 0, false }
