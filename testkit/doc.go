// Package testkit holds nothing itself: the module groups the test helpers
// that the lb and loadtest modules share (composelab: the Compose lab for
// Docker tests, and the machine-wide Docker test lock both modules' tests
// take). It is a module of its own so that each of lb and loadtest requires
// it (with a replace to ../testkit) and builds, vets and tests on its own,
// outside the go.work workspace too.
package testkit
