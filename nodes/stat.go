package nodes

import (
	"os"
	"time"
)

// FileStamp is what a stat tells about a file, to see whether it changed.
// Size and modification time alone miss a file replaced by one of the same size and
// time (cp -p, rsync -t and tar set the time they copy): the inode changes
// when a file is renamed over it, and the change time (which no one can
// set) whenever it is written or its times are set.
type FileStamp struct {
	size  int64
	mtime time.Time
	ctime time.Time // zero where the system does not say
	dev   uint64
	ino   uint64
	err   string
}

// Same reports whether two stats show the same file, unchanged.
func (a FileStamp) Same(b FileStamp) bool {
	return a.size == b.size && a.mtime.Equal(b.mtime) && a.ctime.Equal(b.ctime) &&
		a.dev == b.dev && a.ino == b.ino && a.err == b.err
}

// Changed is the latest of the file's times.
func (a FileStamp) Changed() time.Time {
	if a.ctime.After(a.mtime) {
		return a.ctime
	}
	return a.mtime
}

// StatFile stats path. A file that cannot be stat'ed gives a stamp that
// records why, so a second failure for the same reason is the same.
func StatFile(path string) FileStamp {
	fi, err := os.Stat(path)
	if err != nil {
		return FileStamp{err: err.Error()}
	}
	st := FileStamp{size: fi.Size(), mtime: fi.ModTime()}
	st.ctime, st.dev, st.ino = statIdentity(fi)
	return st
}
