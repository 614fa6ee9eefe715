package news

import (
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"sort"
	"strings"
)

// ArticleID returns a stable id for an item: a hash of its normalised GUID
// when the feed gives one, else of its normalised link. The same story seen
// again, across restarts and replicas, gets the same id.
func ArticleID(guid, link string) string {
	key := strings.TrimSpace(guid)
	if key != "" {
		// GUIDs that are permalinks are normalised like links, so that
		// http/https or tracking-parameter churn does not create new ids.
		if u, err := url.Parse(key); err == nil && u.Scheme != "" && u.Host != "" {
			key = NormalizeURL(key)
		}
		key = "guid:" + key
	} else {
		key = "link:" + NormalizeURL(link)
	}
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:12])
}

// trackingParams are query parameters that identify a click, not a page.
var trackingParams = map[string]bool{
	"fbclid": true, "gclid": true, "dclid": true, "msclkid": true, "mc_cid": true,
	"mc_eid": true, "igshid": true, "yclid": true, "_hsenc": true, "_hsmi": true,
	"ref_src": true, "cmpid": true, "ocid": true,
}

// NormalizeURL puts a link in canonical form: lower-case scheme and host,
// no default port, no fragment, no tracking parameters, sorted query and no
// trailing slash. An unparsable link is returned trimmed.
func NormalizeURL(raw string) string {
	raw = strings.TrimSpace(raw)
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return raw
	}
	u.Scheme = strings.ToLower(u.Scheme)
	host := strings.ToLower(u.Hostname())
	port := u.Port()
	if (u.Scheme == "http" && port == "80") || (u.Scheme == "https" && port == "443") {
		port = ""
	}
	if port != "" {
		host += ":" + port
	}
	u.Host = host
	u.Fragment = ""
	u.RawFragment = ""
	u.User = nil
	q := u.Query()
	for k := range q {
		lk := strings.ToLower(k)
		if strings.HasPrefix(lk, "utm_") || trackingParams[lk] {
			q.Del(k)
		}
	}
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		vs := q[k]
		sort.Strings(vs)
		for _, v := range vs {
			if b.Len() > 0 {
				b.WriteByte('&')
			}
			b.WriteString(url.QueryEscape(k))
			b.WriteByte('=')
			b.WriteString(url.QueryEscape(v))
		}
	}
	u.RawQuery = b.String()
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return u.String()
}
