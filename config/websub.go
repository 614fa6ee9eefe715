package config

// WebSub lets feeds that name a hub push their updates.
type WebSub struct {
	// CallbackURL is where hubs reach this daemon: the public URL of the
	// http.listen address plus a path, e.g.
	// https://newswatch.example.org/websub/. Empty: no WebSub, polling only.
	CallbackURL string `yaml:"callback_url"`
	// Secret derives each subscription's signing secret (at least 16
	// characters); empty: a random one kept in the bus.
	Secret string `yaml:"secret"`
}

func (c *Config) validateWebSub() Problems {
	p := &problems{c: c}
	if c.WebSub.CallbackURL == "" {
		return nil
	}
	if u, ok := httpURL(c.WebSub.CallbackURL); !ok {
		p.add("is not an http(s) URL", "websub", "callback_url")
	} else if ReservedWebPath(u.Path) {
		// Callbacks are served without http.auth under this path: it
		// must be a path of their own.
		p.add("needs a path of its own, e.g. https://newswatch.example.org/websub/", "websub", "callback_url")
	}
	if c.HTTP.Listen == "" {
		p.add("WebSub needs the http listener (http.listen) to receive callbacks", "websub", "callback_url")
	}
	if s := c.WebSub.Secret; s != "" && len(s) < 16 {
		p.add("must be at least 16 characters", "websub", "secret")
	}
	return p.ps
}
