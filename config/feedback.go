package config

// Feedback configures the "relevant" / "not relevant" links of alerts.
type Feedback struct {
	// Secret signs the links (at least 16 characters); empty: a random
	// key kept in the bus, made at first start and shared by replicas.
	Secret string `yaml:"secret"`
}

func (c *Config) validateFeedback() Problems {
	p := &problems{c: c}
	if s := c.Feedback.Secret; s != "" && len(s) < 16 {
		p.add("must be at least 16 characters", "feedback", "secret")
	}
	return p.ps
}
