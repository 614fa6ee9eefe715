package config

import "fmt"

// Log configures logging.
type Log struct {
	Level  string `yaml:"level"`  // debug | info | warn | error
	Format string `yaml:"format"` // text | json
}

func (c *Config) validateLog() Problems {
	p := &problems{c: c}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		p.add(fmt.Sprintf("unknown level %q (debug, info, warn or error)", c.Log.Level), "log", "level")
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		p.add(fmt.Sprintf("unknown format %q (text or json)", c.Log.Format), "log", "format")
	}
	return p.ps
}
