// Package whsec reads webhook signing secrets as Standard Webhooks
// serialises them, for the webhook sink that signs with them and the test
// receiver that checks the signatures.
package whsec

import (
	"encoding/base64"
	"errors"
	"strings"
)

// Decode turns a configured secret into an HMAC key: "whsec_" and base64,
// or else the string's own bytes (the "raw" format of the official
// libraries). Errors never quote the secret: they end up in logs.
func Decode(s string) ([]byte, error) {
	b64, ok := strings.CutPrefix(s, "whsec_")
	if !ok {
		return []byte(s), nil
	}
	k, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, errors.New("whsec_ secret is not valid base64")
	}
	if len(k) == 0 {
		return nil, errors.New("whsec_ secret is empty")
	}
	return k, nil
}
