package news

import (
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"sort"
	"strings"
)

// ArticleID returns a stable id for an item: a hash of its GUID when the
// feed gives one (the caller passes "" when the feed's GUIDs cannot be
// trusted), else of its normalised link. The same story seen again, across
// restarts and replicas, gets the same id.
//
// A GUID that is a URL (RSS permalinks, Atom ids that are links) is keyed
// like a link, so a permalink GUID and the same link with tracking
// parameters, another scheme or a fragment give one id. Other GUIDs
// ("tag:", "urn:", opaque strings) are case-sensitive and kept as written.
func ArticleID(guid, link string) string {
	key := strings.TrimSpace(guid)
	switch {
	case key != "" && isWebURL(key):
		key = "link:" + linkKey(key)
	case key != "":
		key = "guid:" + key
	default:
		key = "link:" + linkKey(link)
	}
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:12])
}

// linkKey is the normalised link without its scheme: http and https
// addresses of one page are one article.
func linkKey(link string) string {
	n := NormalizeURL(link)
	if rest, ok := strings.CutPrefix(n, "https://"); ok {
		return "//" + rest
	}
	if rest, ok := strings.CutPrefix(n, "http://"); ok {
		return "//" + rest
	}
	return n
}

func isWebURL(s string) bool {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return false
	}
	scheme := strings.ToLower(u.Scheme)
	return scheme == "http" || scheme == "https"
}

// trackingParams are query parameters that identify a click, a campaign or
// a share, not a page. Parameters starting with utm_ are dropped too.
var trackingParams = map[string]bool{
	"fbclid": true, "gclid": true, "gclsrc": true, "dclid": true, "gbraid": true,
	"wbraid": true, "msclkid": true, "twclid": true, "ttclid": true, "li_fat_id": true,
	"mc_cid": true, "mc_eid": true, "igshid": true, "igsh": true, "yclid": true,
	"_hsenc": true, "_hsmi": true, "__hstc": true, "__hssc": true, "__hsfp": true,
	"hsctatracking": true, "mkt_tok": true, "_ga": true, "_gl": true,
	"ref_src": true, "ref_url": true, "cmpid": true, "ocid": true, "ncid": true,
	"s_cid": true, "sr_share": true, "smid": true,
	"xtor": true, "at_medium": true, "at_campaign": true, "wt.mc_id": true,
	"spm": true, "fromrss": true,
}

// NormalizeURL puts a link in canonical form: lower-case scheme and host
// (no trailing dot), no default port, no user info, no fragment, no
// tracking parameters, sorted query, no trailing slash, canonical
// percent-encoding. An unparsable or host-less link is returned trimmed.
func NormalizeURL(raw string) string {
	raw = strings.TrimSpace(raw)
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return raw
	}
	u.Scheme = strings.ToLower(u.Scheme)
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	port := u.Port()
	if (u.Scheme == "http" && port == "80") || (u.Scheme == "https" && port == "443") {
		port = ""
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]" // IPv6 literal
	}
	if port != "" {
		host += ":" + port
	}
	u.Host = host
	u.Fragment = ""
	u.RawFragment = ""
	u.User = nil
	u.RawQuery = normalizeQuery(u.RawQuery)
	u.ForceQuery = false
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return u.String()
}

// normalizeQuery drops tracking parameters and sorts the rest by key,
// keeping the order of repeated keys' values (it can matter).
func normalizeQuery(raw string) string {
	if raw == "" {
		return ""
	}
	q, err := url.ParseQuery(raw)
	if err != nil && len(q) == 0 {
		return raw
	}
	keys := make([]string, 0, len(q))
	for k := range q {
		lk := strings.ToLower(k)
		if strings.HasPrefix(lk, "utm_") || trackingParams[lk] {
			continue
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		for _, v := range q[k] {
			if b.Len() > 0 {
				b.WriteByte('&')
			}
			b.WriteString(url.QueryEscape(k))
			if v != "" {
				b.WriteByte('=')
				b.WriteString(url.QueryEscape(v))
			}
		}
	}
	return b.String()
}
