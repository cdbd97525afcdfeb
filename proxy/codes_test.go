package proxy

import "testing"

// Codes lists each code once, and exactly the codes that have an error
// body, so a code added to errors.go without being added to the list (and
// so never exposed at 0) fails here.
func TestCodesComplete(t *testing.T) {
	seen := map[Code]bool{}
	for _, c := range Codes() {
		if seen[c] {
			t.Errorf("%s: listed twice", c)
		}
		seen[c] = true
		if _, ok := details[c]; !ok {
			t.Errorf("%s: listed but has no error body", c)
		}
	}
	for c := range details {
		if !seen[c] {
			t.Errorf("%s: has an error body but is missing from Codes", c)
		}
	}
}

// Codes hands out a copy: a caller cannot change the list.
func TestCodesIsACopy(t *testing.T) {
	a := Codes()
	a[0] = "changed"
	if got := Codes()[0]; got != CodeMissingHeader {
		t.Errorf("Codes()[0] after changing a returned slice: got %q, want %q", got, CodeMissingHeader)
	}
}
