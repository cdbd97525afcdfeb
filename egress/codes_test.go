package egress

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// The reference's table of egress's own errors (docs/egress.md) says what
// codeInfo says: each code under its status, every code there, none that
// is not.
func TestDocsErrorTable(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "docs", "egress.md"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	start := strings.Index(text, "**Errors egress raises itself:**")
	if start < 0 {
		t.Fatal("docs/egress.md has no table of egress's own errors")
	}
	section := text[start:]
	if end := strings.Index(section, "\n\n**"); end >= 0 {
		section = section[:end]
	}
	row := regexp.MustCompile("(?m)^\\| (\\d{3}) \\| ([^|]+) \\|")
	code := regexp.MustCompile("`([a-z0-9_]+)`")
	inDocs := map[Code]int{}
	for _, m := range row.FindAllStringSubmatch(section, -1) {
		status, _ := strconv.Atoi(m[1])
		for _, c := range code.FindAllStringSubmatch(m[2], -1) {
			inDocs[Code(c[1])] = status
		}
	}
	for c, info := range codeInfo {
		if st, ok := inDocs[c]; !ok || st != info.status {
			t.Errorf("%s: the docs say %d (listed %v), its status is %d", c, st, ok, info.status)
		}
	}
	for c := range inDocs {
		if _, ok := codeInfo[c]; !ok {
			t.Errorf("docs/egress.md: %s is not an error code", c)
		}
	}
}
