package classifier

import (
	"slices"
	"testing"
)

func TestWords(t *testing.T) {
	for _, tc := range []struct {
		in   string
		max  int
		want []string
	}{
		{"Fentanyl <b>seized</b> &amp; U.S.-China talks", 0, []string{"fentanyl", "seized", "us", "china", "talks"}},
		{"ＦＥＮＴＡＮＹＬ 芬太尼 ok", 0, []string{"fentanyl", "芬", "太", "尼", "ok"}},
		{"one two three four", 2, []string{"one", "two"}},
		{"", 0, nil},
	} {
		var got []string
		Words(tc.in, tc.max, func(w string) { got = append(got, w) })
		if !slices.Equal(got, tc.want) {
			t.Errorf("Words(%q, %d) = %q, want %q", tc.in, tc.max, got, tc.want)
		}
	}
}
