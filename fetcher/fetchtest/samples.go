package fetchtest

// RSS is a small RSS 2.0 feed for tests of the fetch path: two items, one
// with a relative link, a tracking parameter, escaped HTML and a category.
const RSS = `<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>T</title><link>https://news.example/</link>
<item><title>Fentanyl &amp; precursors</title><link>/story/1?utm_source=rss</link><guid>g1</guid>
<description>&lt;p&gt;Seized &lt;b&gt;500 kg&lt;/b&gt; &amp;amp; more&lt;/p&gt;</description>
<pubDate>Mon, 02 Jan 2026 15:04:05 +0000</pubDate><category>Drugs</category></item>
<item><title>Second</title><link>https://news.example/story/2</link><guid>g2</guid></item>
</channel></rss>`
