//go:build linux

package nodes

import (
	"os"
	"syscall"
	"time"
)

// statIdentity returns a file's change time, device and inode.
func statIdentity(fi os.FileInfo) (ctime time.Time, dev, ino uint64) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return time.Time{}, 0, 0
	}
	sec, nsec := st.Ctim.Unix()
	return time.Unix(sec, nsec), uint64(st.Dev), uint64(st.Ino)
}
