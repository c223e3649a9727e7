// Package compose holds the end-to-end test of the Compose lab (compose.yaml
// at the repository root): it builds the FROM scratch images from the static
// binaries, starts the lab under a unique project name on free host ports,
// and checks balancing, failover and scaling through the published lb port.
// It needs a Docker daemon and docker compose or docker-compose; without them
// it skips loudly (and fails when CI=true). It has no non-test code.
package compose
