package header

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestTheAppAnswersWithTheVersionHeader keeps the sample app, a module of
// its own that cannot import this package, naming the same header.
func TestTheAppAnswersWithTheVersionHeader(t *testing.T) {
	b, err := os.ReadFile("../../app/main.go")
	if err != nil {
		t.Fatal(err)
	}
	want := "const VersionHeader = " + strconv.Quote(Version)
	if !strings.Contains(string(b), want) {
		t.Errorf("app/main.go does not say %s: the gate and the load balancers read that header", want)
	}
}
