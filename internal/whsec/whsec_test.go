package whsec

import (
	"strings"
	"testing"
)

func TestDecode(t *testing.T) {
	cases := []struct {
		in, want, err string
	}{
		{"raw secret", "raw secret", ""},
		{"whsec_" + "c2VjcmV0", "secret", ""},
		{"whsec_!!not-base64-SECRETVALUE", "", "not valid base64"},
		{"whsec_", "", "empty"},
	}
	for _, tc := range cases {
		got, err := Decode(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) || strings.Contains(err.Error(), "SECRETVALUE") {
				t.Errorf("Decode(%q) = %q, %v; want an error saying %q without the secret", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || string(got) != tc.want {
			t.Errorf("Decode(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}
