package metrics

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestEverySeriesIsDocumented: every series name the balancer's code
// defines (a "lblab_..." string in lb/internal, tests aside) has its row in
// docs/metrics.md's table, and the table names none that the code does
// not.
func TestEverySeriesIsDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../../docs/metrics.md")
	require.NoError(t, err)
	documented := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| `(lblab_[a-z0-9_]+)` \\|").FindAllStringSubmatch(string(doc), -1) {
		documented[m[1]] = true
	}
	require.NotEmpty(t, documented, "no table rows found in docs/metrics.md")

	defined := map[string]bool{}
	name := regexp.MustCompile(`"(lblab_[a-z0-9_]+)"`)
	err = filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range name.FindAllStringSubmatch(string(src), -1) {
			defined[m[1]] = true
		}
		return nil
	})
	require.NoError(t, err)
	require.NotEmpty(t, defined)

	var missing, stale []string
	for n := range defined {
		if !documented[n] {
			missing = append(missing, n)
		}
	}
	for n := range documented {
		if !defined[n] {
			stale = append(stale, n)
		}
	}
	sort.Strings(missing)
	sort.Strings(stale)
	if len(missing) > 0 {
		t.Errorf("series without a row in docs/metrics.md: %s", strings.Join(missing, ", "))
	}
	if len(stale) > 0 {
		t.Errorf("rows in docs/metrics.md for series the code no longer has: %s", strings.Join(stale, ", "))
	}
}
