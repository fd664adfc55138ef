//go:build race

package e2e

// raceEnabled: the suite was built with -race, so the manager and the fake are too.
const raceEnabled = true
