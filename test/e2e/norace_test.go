//go:build !race

package e2e

// raceEnabled: the suite was built without -race, so the manager and the fake are too.
const raceEnabled = false
