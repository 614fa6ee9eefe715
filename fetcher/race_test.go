//go:build race

package fetcher

// raceEnabled: the race detector multiplies memory and time, so peak-RSS
// bounds mean nothing under it.
const raceEnabled = true
