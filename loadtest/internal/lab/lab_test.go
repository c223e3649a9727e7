package lab

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lblab/lblab/testkit/composelab"
)

// fixture is a Compose-like project made with the Docker API: a network and
// three replicas of service "backend", labelled as Compose labels them.
type fixture struct {
	lab     *Lab
	cli     *client.Client
	project string
	network string
}

// newFixture builds a FROM scratch image from the static backend binary and
// starts the project. Everything is removed in t.Cleanup, even on failure.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	if testing.Short() {
		t.Skip("SKIP: Docker lab test (-short)")
	}
	ctx := t.Context()
	project := "lblabtest" + randHex(t, 4)
	l, err := New(ctx, Config{Project: project, StopTimeout: 2 * time.Second})
	if errors.Is(err, ErrNoDocker) {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no Docker daemon and CI=true: %v", err)
		}
		t.Log("**************************************************")
		t.Log("SKIP: no Docker daemon:", err)
		t.Log("**************************************************")
		t.Skip("SKIP: no Docker daemon")
	}
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Close() })
	composelab.LockShared(t, 5*time.Minute) // not while a Swarm test rewires the daemon
	f := &fixture{lab: l, cli: l.Client(), project: project, network: project + "_default"}

	image := buildImage(t, f.cli)

	cleanupCtx := func() (context.Context, context.CancelFunc) {
		return context.WithTimeout(context.Background(), time.Minute)
	}
	_, err = f.cli.NetworkCreate(ctx, f.network, client.NetworkCreateOptions{
		Driver: "bridge",
		Labels: map[string]string{LabelProject: project, "com.docker.compose.network": "default"},
	})
	require.NoError(t, err)
	// Registered after the image's cleanup, so it runs before it.
	t.Cleanup(func() {
		ctx, cancel := cleanupCtx()
		defer cancel()
		res, err := f.cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: client.Filters{}.Add("label", LabelProject+"="+project)})
		if err == nil {
			for _, c := range res.Items {
				if _, err := f.cli.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true}); err != nil {
					t.Logf("cleanup: remove container %s: %v", c.ID[:12], err)
				}
			}
		}
		if _, err := f.cli.NetworkRemove(ctx, f.network, client.NetworkRemoveOptions{}); err != nil {
			t.Logf("cleanup: remove network %s: %v", f.network, err)
		}
	})

	for i := 1; i <= 3; i++ {
		name := fmt.Sprintf("%s_backend_%d", project, i)
		res, err := f.cli.ContainerCreate(ctx, client.ContainerCreateOptions{
			Name: name,
			Config: &container.Config{
				Image: image,
				Cmd:   []string{"--port", "8000"},
				Labels: map[string]string{
					LabelProject: project, LabelService: "backend", LabelNumber: fmt.Sprint(i),
					"com.docker.compose.oneoff": "False",
				},
				Healthcheck: &container.HealthConfig{
					Test:     []string{"CMD", "/backend", "healthcheck", "--url", "http://127.0.0.1:8000/health"},
					Interval: 500 * time.Millisecond, Timeout: 2 * time.Second, Retries: 3,
				},
			},
			HostConfig: &container.HostConfig{NetworkMode: container.NetworkMode(f.network)},
			NetworkingConfig: &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{
				f.network: {Aliases: []string{"backend"}},
			}},
		})
		require.NoError(t, err)
		_, err = f.cli.ContainerStart(ctx, res.ID, client.ContainerStartOptions{})
		require.NoError(t, err)
	}
	return f
}

// buildImage builds lblab-test-backend:<random> from the backend binary.
func buildImage(t *testing.T, cli *client.Client) string {
	t.Helper()
	bin := backendBinary(t)
	data, err := os.ReadFile(bin)
	require.NoError(t, err)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dockerfile := "FROM scratch\nCOPY backend /backend\nENTRYPOINT [\"/backend\"]\n"
	for _, f := range []struct {
		name string
		mode int64
		data []byte
	}{{"Dockerfile", 0o644, []byte(dockerfile)}, {"backend", 0o755, data}} {
		require.NoError(t, tw.WriteHeader(&tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data))}))
		_, err := tw.Write(f.data)
		require.NoError(t, err)
	}
	require.NoError(t, tw.Close())

	tag := "lblab-test-backend:" + randHex(t, 6)
	res, err := cli.ImageBuild(t.Context(), &buf, client.ImageBuildOptions{Tags: []string{tag}, Remove: true, ForceRemove: true})
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := cli.ImageRemove(ctx, tag, client.ImageRemoveOptions{Force: true, PruneChildren: true}); err != nil {
			t.Logf("cleanup: remove image %s: %v", tag, err)
		}
	})
	defer res.Body.Close()
	dec := json.NewDecoder(res.Body)
	for {
		var msg struct {
			Stream string `json:"stream"`
			Error  string `json:"error"`
		}
		if err := dec.Decode(&msg); errors.Is(err, io.EOF) {
			break
		} else {
			require.NoError(t, err)
		}
		require.Empty(t, msg.Error, "docker build")
	}
	return tag
}

// backendBinary returns a static backend binary: $LBLAB_BIN/backend, else one
// built from ../backend, else the stand-in from testdata.
func backendBinary(t *testing.T) string {
	t.Helper()
	if dir := os.Getenv("LBLAB_BIN"); dir != "" {
		if p := filepath.Join(dir, "backend"); fileExists(p) {
			return p
		}
	}
	out := filepath.Join(t.TempDir(), "backend")
	for _, pkg := range []string{"github.com/lblab/lblab/backend", "./testdata/tinybackend"} {
		cmd := exec.CommandContext(t.Context(), "go", "build", "-o", out, pkg)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Logf("go build %s: %v\n%s", pkg, err, b)
			continue
		}
		return out
	}
	t.Fatal("could not build a backend binary")
	return ""
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

func randHex(t *testing.T, n int) string {
	b := make([]byte, n)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return hex.EncodeToString(b)
}

func (f *fixture) inspect(t *testing.T, c Container) container.InspectResponse {
	t.Helper()
	res, err := f.cli.ContainerInspect(t.Context(), c.ID, client.ContainerInspectOptions{})
	require.NoError(t, err)
	return res.Container
}

func waitCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestLab(t *testing.T) {
	f := newFixture(t)
	l := f.lab
	ctx := t.Context()

	ready, err := l.WaitHealthy(waitCtx(t), "backend")
	require.NoError(t, err)
	require.Len(t, ready, 3)

	all, err := l.List(ctx, "backend")
	require.NoError(t, err)
	require.Len(t, all, 3)
	for i, c := range all {
		assert.Equal(t, i+1, c.Number)
		assert.Equal(t, fmt.Sprintf("%s_backend_%d", f.project, i+1), c.Name)
		assert.Equal(t, c.ID[:12], c.Hostname, "the backend's default name is the container's host name")
		assert.Equal(t, "running", c.State)
		assert.Equal(t, "healthy", c.Health)
		assert.Equal(t, []string{f.network}, c.Networks)
		assert.Equal(t, c.Name, l.BackendName(c.Hostname))
	}
	assert.Empty(t, l.BackendName("nobody"))

	t.Run("find", func(t *testing.T) {
		c, err := l.Find(ctx, Ref{Name: all[1].Name})
		require.NoError(t, err)
		assert.Equal(t, all[1].ID, c.ID)
		c, err = l.Find(ctx, Ref{Name: all[2].ID[:12]})
		require.NoError(t, err)
		assert.Equal(t, all[2].ID, c.ID)
		_, err = l.Find(ctx, Ref{Service: "backend", Number: 9})
		require.ErrorContains(t, err, "there are backend:1")
		_, err = l.Find(ctx, Ref{Service: "nope", Number: 1})
		require.ErrorContains(t, err, "is the lab up?")
	})

	t.Run("kill and start", func(t *testing.T) {
		c, err := l.Kill(ctx, Ref{Number: 2})
		require.NoError(t, err)
		assert.Equal(t, "exited", c.State)
		assert.True(t, l.Changed())
		c, err = l.Start(ctx, Ref{Number: 2})
		require.NoError(t, err)
		assert.Equal(t, "running", c.State)
		assert.Equal(t, all[1].Hostname, c.Hostname, "same container, same X-Backend")
		assert.False(t, l.Changed())
	})

	t.Run("stop and restart", func(t *testing.T) {
		c, err := l.Stop(ctx, Ref{Number: 1}, time.Second)
		require.NoError(t, err)
		assert.Equal(t, "exited", c.State)
		assert.True(t, l.Changed(), "Restore would start it")
		before := f.inspect(t, c).State.StartedAt
		c, err = l.Restart(ctx, Ref{Name: all[0].Name}, time.Second)
		require.NoError(t, err)
		assert.Equal(t, "running", c.State)
		assert.Equal(t, all[0].Hostname, c.Hostname)
		assert.False(t, l.Changed(), "restarted: nothing left to restore")
		assert.NotEqual(t, before, f.inspect(t, c).State.StartedAt)

		// Restart of a running container stops it and starts it again.
		running := f.inspect(t, all[2]).State.StartedAt
		c, err = l.Restart(ctx, Ref{Number: 3}, time.Second)
		require.NoError(t, err)
		assert.Equal(t, "running", c.State)
		assert.NotEqual(t, running, f.inspect(t, c).State.StartedAt)
		assert.False(t, l.Changed())
	})

	t.Run("pause and unpause", func(t *testing.T) {
		c, err := l.Pause(ctx, Ref{Number: 3})
		require.NoError(t, err)
		assert.Equal(t, "paused", c.State)
		c, err = l.Unpause(ctx, Ref{Service: "backend", Number: 3})
		require.NoError(t, err)
		assert.Equal(t, "running", c.State)
	})

	t.Run("disconnect and reconnect", func(t *testing.T) {
		c, err := l.Disconnect(ctx, Ref{Number: 2})
		require.NoError(t, err)
		assert.Empty(t, c.Networks)
		_, err = l.Reconnect(ctx, Ref{Number: 2})
		require.NoError(t, err)
		in := f.inspect(t, c)
		require.Contains(t, in.NetworkSettings.Networks, f.network)
		assert.Contains(t, in.NetworkSettings.Networks[f.network].Aliases, "backend")
		_, err = l.Reconnect(ctx, Ref{Number: 2})
		require.ErrorContains(t, err, "not disconnected")
	})

	t.Run("scale up and down", func(t *testing.T) {
		added, removed, err := l.Scale(ctx, "backend", 5)
		require.NoError(t, err)
		assert.Empty(t, removed)
		require.Len(t, added, 2)
		for i, c := range added {
			assert.Equal(t, 4+i, c.Number)
			assert.Equal(t, fmt.Sprintf("%s_backend_%d", f.project, 4+i), c.Name)
			assert.Equal(t, "running", c.State)
			assert.Equal(t, c.ID[:12], c.Hostname, "a clone names itself apart")
			in := f.inspect(t, c)
			assert.Equal(t, f.project, in.Config.Labels[LabelProject])
			assert.Equal(t, "backend", in.Config.Labels[LabelService])
			require.Contains(t, in.NetworkSettings.Networks, f.network)
			assert.Contains(t, in.NetworkSettings.Networks[f.network].Aliases, "backend")
			assert.NotNil(t, in.Config.Healthcheck, "the clone keeps the health check")
		}
		ready, err := l.WaitHealthy(waitCtx(t), "backend")
		require.NoError(t, err)
		assert.Len(t, ready, 5)

		added, removed, err = l.Scale(ctx, "backend", 3)
		require.NoError(t, err)
		assert.Empty(t, added)
		require.Len(t, removed, 2)
		assert.Equal(t, []int{5, 4}, []int{removed[0].Number, removed[1].Number})
		now, err := l.List(ctx, "backend")
		require.NoError(t, err)
		assert.Len(t, now, 3)
		require.NoError(t, l.Restore(ctx)) // back at 3: nothing to do
	})

	t.Run("restore starts what was killed", func(t *testing.T) {
		_, err := l.Kill(ctx, Ref{Number: 2})
		require.NoError(t, err)
		require.True(t, l.Changed())
		require.NoError(t, l.Restore(ctx))
		assert.False(t, l.Changed())
		c, err := l.Find(ctx, Ref{Number: 2})
		require.NoError(t, err)
		assert.Equal(t, "running", c.State)
	})

	t.Run("restore undoes everything", func(t *testing.T) {
		_, err := l.Pause(ctx, Ref{Number: 1})
		require.NoError(t, err)
		_, err = l.Disconnect(ctx, Ref{Number: 2})
		require.NoError(t, err)
		_, err = l.Stop(ctx, Ref{Number: 3}, time.Second)
		require.NoError(t, err)
		_, _, err = l.Scale(ctx, "backend", 2) // removes number 3, which was stopped
		require.NoError(t, err)
		require.True(t, l.Changed())

		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		require.NoError(t, l.Restore(rctx))
		assert.False(t, l.Changed())

		now, err := l.List(ctx, "backend")
		require.NoError(t, err)
		require.Len(t, now, 3)
		for _, c := range now {
			assert.Equal(t, "running", c.State, c.Name)
			assert.Equal(t, []string{f.network}, c.Networks, c.Name)
		}
		assert.Equal(t, []int{1, 2, 3}, []int{now[0].Number, now[1].Number, now[2].Number}, "the replacement takes the next free number")
		ready, err := l.WaitHealthy(waitCtx(t), "backend")
		require.NoError(t, err)
		assert.Len(t, ready, 3)
	})

	v, err := l.Version(ctx)
	require.NoError(t, err)
	assert.Contains(t, v, "API")
}

func TestCloneName(t *testing.T) {
	tests := []struct {
		tmpl Container
		want string
	}{
		{Container{Name: "lblab_backend_1", Service: "backend", Number: 1}, "lblab_backend_7"},
		{Container{Name: "lblab-backend-3", Service: "backend", Number: 3}, "lblab-backend-7"},
		{Container{Name: "custom", Service: "backend", Number: 1}, "lblab_backend_7"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, cloneName(tt.tmpl, "lblab", 7), tt.tmpl.Name)
	}
}

func TestUserAliases(t *testing.T) {
	id := "0123456789abcdef0123"
	assert.Equal(t, []string{"backend"}, userAliases([]string{"backend", "0123456789ab"}, id))
	assert.True(t, slices.Equal([]string(nil), userAliases(nil, id)))
	assert.False(t, strings.Contains(strings.Join(userAliases([]string{id[:12]}, id), ","), id[:12]))
}

func TestNoDocker(t *testing.T) {
	t.Setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
	_, err := New(t.Context(), Config{})
	require.ErrorIs(t, err, ErrNoDocker)
	assert.Contains(t, err.Error(), "/nonexistent/docker.sock")
}
