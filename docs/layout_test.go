package docs

import (
	"errors"
	"go/build"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The groups of layout.md's tables, in the order they appear there.
const (
	minerHalf = iota
	validatorHalf
	shared
	around
)

var groupTitles = []string{
	"**The miner's half**",
	"**The validator's half**",
	"**What both halves share**",
	"**Around them**",
}

var rowRE = regexp.MustCompile("(?m)^\\| `([^`]+)` \\|")

// layoutGroups reads layout.md's four package tables: which group each
// listed package is in.
func layoutGroups(t *testing.T) map[string]int {
	t.Helper()
	b, err := os.ReadFile("layout.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	text = text[:strings.Index(text, "## Dependencies")]
	groups := map[string]int{}
	for g, title := range groupTitles {
		i := strings.Index(text, title)
		if i < 0 {
			t.Fatalf("layout.md has no %s table", title)
		}
		section := text[i:]
		if g+1 < len(groupTitles) {
			if j := strings.Index(section, groupTitles[g+1]); j >= 0 {
				section = section[:j]
			}
		}
		rows := rowRE.FindAllStringSubmatch(section, -1)
		if len(rows) == 0 {
			t.Fatalf("layout.md's %s table lists no package", title)
		}
		for _, m := range rows {
			if prev, dup := groups[m[1]]; dup {
				t.Errorf("layout.md lists %s twice (%s and %s)", m[1], groupTitles[prev], title)
			}
			groups[m[1]] = g
		}
	}
	return groups
}

// modulePackages lists the module's packages with code outside tests (by
// directory, relative to the root) and what that code imports of the
// module.
func modulePackages(t *testing.T, root string) map[string][]string {
	t.Helper()
	mod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^module\s+(\S+)`).FindSubmatch(mod)
	if m == nil {
		t.Fatal("go.mod names no module")
	}
	prefix := string(m[1]) + "/"
	pkgs := map[string][]string{}
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		name := d.Name()
		if path != root && (name == "testdata" || name == "vendor" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
			return filepath.SkipDir
		}
		p, err := build.Default.ImportDir(path, 0)
		var noGo *build.NoGoError
		if errors.As(err, &noGo) {
			return nil
		}
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		var own []string
		for _, imp := range p.Imports {
			if strings.HasPrefix(imp, prefix) {
				own = append(own, strings.TrimPrefix(imp, prefix))
			}
		}
		pkgs[rel] = own
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return pkgs
}

// groupOf is the group of a package: its own row, or the row of the
// nearest folder above it that has one (bench's tools are bench's).
func groupOf(groups map[string]int, pkg string) (string, int, bool) {
	for p := pkg; ; {
		if g, ok := groups[p]; ok {
			return p, g, true
		}
		i := strings.LastIndexByte(p, '/')
		if i < 0 {
			return "", 0, false
		}
		p = p[:i]
	}
}

// mayImport is layout.md's rule: neither half imports the other, what
// they share imports only what they share, and what is around them
// imports anything.
func mayImport(from, to int) bool {
	switch from {
	case around:
		return true
	case shared:
		return to == shared
	default:
		return to == from || to == shared
	}
}

func TestLayoutHoldsEveryPackageAndItsImports(t *testing.T) {
	groups := layoutGroups(t)
	pkgs := modulePackages(t, "..")
	if len(pkgs) < 20 {
		t.Fatalf("found only %d packages", len(pkgs))
	}
	for p := range groups {
		if st, err := os.Stat(filepath.Join("..", p)); err != nil || !st.IsDir() {
			t.Errorf("layout.md lists %s, which is not a folder", p)
		}
	}
	checked := 0
	for pkg, imports := range pkgs {
		row, from, ok := groupOf(groups, pkg)
		if !ok {
			t.Errorf("package %s is in no table of layout.md", pkg)
			continue
		}
		for _, imp := range imports {
			impRow, to, ok := groupOf(groups, imp)
			if !ok {
				continue // reported as its own package
			}
			checked++
			if !mayImport(from, to) && impRow != row {
				t.Errorf("%s (%s) imports %s (%s)", pkg, groupTitles[from], imp, groupTitles[to])
			}
		}
	}
	if checked < 30 {
		t.Fatalf("checked only %d imports", checked)
	}
}

// The rule itself, so that a table edit cannot quietly make it allow
// everything.
func TestLayoutRule(t *testing.T) {
	for _, c := range []struct {
		from, to int
		ok       bool
	}{
		{minerHalf, validatorHalf, false},
		{validatorHalf, minerHalf, false},
		{minerHalf, around, false},
		{validatorHalf, around, false},
		{shared, minerHalf, false},
		{shared, validatorHalf, false},
		{shared, around, false},
		{minerHalf, shared, true},
		{validatorHalf, shared, true},
		{minerHalf, minerHalf, true},
		{around, minerHalf, true},
		{around, validatorHalf, true},
	} {
		if got := mayImport(c.from, c.to); got != c.ok {
			t.Errorf("%s importing %s: %v, want %v", groupTitles[c.from], groupTitles[c.to], got, c.ok)
		}
	}
}
