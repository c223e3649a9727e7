// Package testkit holds nothing itself: the module groups the test helpers
// that the backend, lb and loadtest modules share (composelab: the Compose lab
// for Docker tests, and the machine-wide Docker test lock both lb's and
// loadtest's tests take; ports: addresses on 127.0.0.1 that tests running
// beside cannot take away). It is a module of its own so that each module
// requires it (with a replace to ../testkit) and builds, vets and tests on its
// own, outside the go.work workspace too.
package testkit
