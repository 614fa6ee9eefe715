package notifier

import (
	"slices"

	"newswatch/config"
	"newswatch/news"
)

// Fold decides whether subscriber sub is sent alert a, so that an article
// matching several of the subscriber's topics reaches it once. The
// classifier publishes one alert per matching topic, each naming every
// topic the article matched (a.Topics, in the same order on each); the
// subscriber is sent the one whose own topic comes first among its
// topics, and the others are folded into it (acknowledged unsent).
// Nothing is remembered between alerts, so the rule holds across crashes,
// restarts and replicas.
//
// mine is what the delivered alert's Topics becomes: the subscriber's
// topics among those the article matched, in the alert's order. An
// alert that does not name its own topic in Topics (raised before alerts
// carried Topics) is always delivered, as itself.
func Fold(sub config.Subscriber, a *news.Alert) (mine []news.AlertTopic, deliver bool) {
	all := a.AllTopics()
	for _, t := range all {
		if len(sub.Topics) == 0 || slices.Contains(sub.Topics, t.ID) {
			mine = append(mine, t)
		}
	}
	if !slices.ContainsFunc(mine, func(t news.AlertTopic) bool { return t.ID == a.Topic }) {
		own := news.AlertTopic{ID: a.Topic, Name: a.TopicName, Score: a.Score, Matches: a.Matches}
		return []news.AlertTopic{own}, true
	}
	return mine, mine[0].ID == a.Topic
}
