package charset_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/encoding/traditionalchinese"
	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/encoding/unicode/utf32"

	"newswatch/config"
	"newswatch/fetcher"
	"newswatch/fetcher/charset"
)

func encodeWith(t *testing.T, enc encoding.Encoding, s string) []byte {
	t.Helper()
	b, err := enc.NewEncoder().Bytes([]byte(s))
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	return b
}

// TestCharsets serves the same feed in many encodings, declared in each of
// the places a publisher may declare it, and checks the text that comes out.
func TestCharsets(t *testing.T) {
	const (
		zh = "美国与中国就芬太尼前体化学品管制达成合作协议，海关查获大批走私货物"
		tw = "美國與中國就芬太尼前體化學品管制達成合作協議，海關查獲大批走私貨物"
		ja = "東京税関が合成麻薬フェンタニルの密輸を摘発した"
		ru = "Таможня изъяла крупную партию синтетических опиоидов на границе. Сотрудники пограничной службы сообщили, что груз был обнаружен во время проверки"
		fr = "Saisie de fentanyl à l’aéroport : « coopération » renforcée – café"
	)
	feed := func(decl, title string) string {
		x := `<?xml version="1.0"` + decl + `?>` + "\n"
		return x + `<rss version="2.0"><channel><title>c</title><item><title>` + title +
			`</title><link>https://news.example/1</link><description>` + title + `</description></item></channel></rss>`
	}
	tests := []struct {
		name        string
		contentType string
		body        []byte
		want        string
		charset     string
	}{
		{"gbk in header", "text/xml; charset=GBK", encodeWith(t, simplifiedchinese.GBK, feed("", zh)), zh, "gb18030"},
		{"gb2312 in xml decl", "application/rss+xml", encodeWith(t, simplifiedchinese.GBK, feed(` encoding="gb2312"`, zh)), zh, "gb18030"},
		{"gb18030 quoted header", "text/xml; charset='gb18030'", encodeWith(t, simplifiedchinese.GB18030, feed("", zh)), zh, "gb18030"},
		{"header overrides decl", "text/xml; charset=gbk", encodeWith(t, simplifiedchinese.GBK, feed(` encoding="iso-8859-1"`, zh)), zh, "gb18030"},
		{"utf-8 header on gbk body with decl", "text/xml; charset=utf-8", encodeWith(t, simplifiedchinese.GBK, feed(` encoding="gbk"`, zh)), zh, "gb18030"},
		{"big5 decl", "", encodeWith(t, traditionalchinese.Big5, feed(` encoding="big5"`, tw)), tw, "big5"},
		{"shift-jis decl", "text/xml", encodeWith(t, japanese.ShiftJIS, feed(` encoding="Shift_JIS"`, ja)), ja, "shift_jis"},
		{"koi8-r header", "application/xml; charset=koi8-r", encodeWith(t, charmap.KOI8R, feed("", ru)), ru, "koi8-r"},
		{"windows-1252 decl", "", encodeWith(t, charmap.Windows1252, feed(` encoding="windows-1252"`, fr)), fr, "windows-1252"},
		{"iso-8859-1 decl reads as windows-1252", "", encodeWith(t, charmap.Windows1252, feed(` encoding="ISO-8859-1"`, fr)), fr, "windows-1252"},
		{"utf-16le bom", "", encodeWith(t, unicode.UTF16(unicode.LittleEndian, unicode.UseBOM), feed(` encoding="utf-16"`, zh)), zh, "utf-16le"},
		{"utf-16be bom", "", encodeWith(t, unicode.UTF16(unicode.BigEndian, unicode.UseBOM), feed(` encoding="utf-16"`, ru)), ru, "utf-16be"},
		{"utf-16le no bom", "text/xml", encodeWith(t, unicode.UTF16(unicode.LittleEndian, unicode.IgnoreBOM), feed(` encoding="utf-16"`, ja)), ja, "utf-16le"},
		{"utf-16be no bom", "", encodeWith(t, unicode.UTF16(unicode.BigEndian, unicode.IgnoreBOM), feed(``, fr)), fr, "utf-16be"},
		{"utf-32le bom", "", encodeWith(t, utf32.UTF32(utf32.LittleEndian, utf32.UseBOM), feed(` encoding="utf-32"`, zh)), zh, "utf-32le"},
		{"utf-32be no bom", "", encodeWith(t, utf32.UTF32(utf32.BigEndian, utf32.IgnoreBOM), feed(` encoding="utf-32"`, ru)), ru, "utf-32be"},
		{"utf-8 bom", "text/xml; charset=iso-8859-1", append([]byte("\xEF\xBB\xBF"), feed("", zh)...), zh, "utf-8"},
		{"undeclared gbk", "", encodeWith(t, simplifiedchinese.GBK, feed("", strings.Repeat(zh, 3))), strings.Repeat(zh, 3), "gb18030"},
		{"undeclared koi8-r", "", encodeWith(t, charmap.KOI8R, feed("", ru)), ru, "koi8-r"},
		{"invalid utf-8 bytes repaired", "text/xml; charset=utf-8", []byte(feed("", "ok \xff\xfe bytes")), "ok \uFFFD bytes", "utf-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header()["Content-Type"] = nil
				if tt.contentType != "" {
					w.Header().Set("Content-Type", tt.contentType)
				}
				w.Write(tt.body)
			}))
			defer srv.Close()
			f := fetcher.New(config.Fetch{Timeout: 5 * time.Second, HostInterval: -1, PerHost: 8}, nil)
			res, err := f.Fetch(context.Background(), config.Source{ID: "src", Type: "feed", URL: srv.URL, Interval: time.Minute}, fetcher.Validator{})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Articles) != 1 {
				t.Fatalf("%d articles", len(res.Articles))
			}
			if a := res.Articles[0]; a.Title != tt.want || a.Summary != tt.want {
				t.Errorf("title %q\nsummary %q\nwant %q", a.Title, a.Summary, tt.want)
			}
			if res.Charset != tt.charset {
				t.Errorf("charset %s, want %s", res.Charset, tt.charset)
			}
		})
	}
}

func TestDecodeHTMLMeta(t *testing.T) {
	const zh = "芬太尼走私案"
	tests := []struct {
		name, ctype string
		body        []byte
	}{
		{"meta charset", "text/html", encodeWith(t, simplifiedchinese.GBK, `<html><head><meta charset="gb2312"><title>`+zh+`</title></head></html>`)},
		{"meta http-equiv", "", encodeWith(t, simplifiedchinese.GBK, `<html><head><meta http-equiv="Content-Type" content="text/html; charset=gbk"><title>`+zh+`</title></head></html>`)},
		{"header wins", "text/html; charset=big5", encodeWith(t, traditionalchinese.Big5, `<html><head><meta charset="utf-8"><title>`+zh+`</title></head></html>`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := charset.DecodeHTML(tt.body, tt.ctype)
			if !strings.Contains(string(d.Body), zh) {
				t.Errorf("decoded as %s (%s): %q", d.Charset, d.From, d.Body)
			}
		})
	}
}
