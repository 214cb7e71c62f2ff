package traffic

import (
	"os"
	"syscall"
)

// inode tells a renamed-over file from the one it replaced.
func inode(info os.FileInfo) uint64 {
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return st.Ino
	}
	return 0
}
