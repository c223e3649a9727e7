package lab

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
)

// Scale sets the number of containers of service to n, as `compose up
// --scale` would: new replicas are clones of an existing one (same image,
// configuration, networks and labels, the next container number, the
// service name as network alias so Docker's DNS includes them); surplus
// replicas, highest numbers first, are stopped and removed. Restore scales
// back to the count before the first Scale.
func (l *Lab) Scale(ctx context.Context, service string, n int) (added, removed []Container, err error) {
	if service == "" {
		service = l.cfg.Service
	}
	all, err := l.List(ctx, service)
	if err != nil {
		return nil, nil, err
	}
	l.mu.Lock()
	if _, ok := l.scaled[service]; !ok {
		l.scaled[service] = len(all)
	}
	l.mu.Unlock()
	return l.scale(ctx, service, n)
}

func (l *Lab) scale(ctx context.Context, service string, n int) (added, removed []Container, err error) {
	if n < 0 {
		return nil, nil, fmt.Errorf("scale %s to %d: negative replica count", service, n)
	}
	all, err := l.List(ctx, service)
	if err != nil {
		return nil, nil, err
	}
	switch {
	case len(all) < n:
		if len(all) == 0 {
			return nil, nil, fmt.Errorf("scale %s to %d: no container of the service to clone (is the lab up?)", service, n)
		}
		tmpl := all[0]
		for _, c := range all {
			if c.State == "running" {
				tmpl = c
				break
			}
		}
		next := 0
		for _, c := range all {
			next = max(next, c.Number)
		}
		for i := len(all); i < n; i++ {
			next++
			c, err := l.clone(ctx, tmpl, next)
			if err != nil {
				return added, nil, fmt.Errorf("scale %s to %d: %w", service, n, err)
			}
			added = append(added, c)
		}
	case len(all) > n:
		slices.SortFunc(all, func(a, b Container) int { return b.Number - a.Number })
		for _, c := range all[:len(all)-n] {
			if err := l.remove(ctx, c); err != nil {
				return nil, removed, fmt.Errorf("scale %s to %d: %w", service, n, err)
			}
			removed = append(removed, c)
		}
	}
	l.cfg.Log.Info("scaled service", "service", service, "replicas", n, "added", len(added), "removed", len(removed))
	return added, removed, nil
}

// clone creates and starts a copy of tmpl with container number num.
func (l *Lab) clone(ctx context.Context, tmpl Container, num int) (Container, error) {
	res, err := l.cli.ContainerInspect(ctx, tmpl.ID, client.ContainerInspectOptions{})
	if err != nil {
		return Container{}, fmt.Errorf("inspect %s: %w", tmpl.Name, err)
	}
	in := res.Container
	if in.Config == nil || in.HostConfig == nil {
		return Container{}, fmt.Errorf("inspect %s: no configuration", tmpl.Name)
	}

	cfg := *in.Config
	cfg.Hostname = "" // Docker then uses the new ID, so the backend names itself apart
	cfg.Image = in.Image
	cfg.Labels = maps.Clone(in.Config.Labels)
	cfg.Labels[LabelNumber] = strconv.Itoa(num)
	cfg.Env = slices.DeleteFunc(slices.Clone(in.Config.Env), func(e string) bool {
		return strings.HasPrefix(e, "HOSTNAME=")
	})
	hc := *in.HostConfig
	hc.PortBindings = nil // a fixed host port cannot be shared; replicas publish none

	// Attach at create time to the network the container runs in (older APIs
	// take one network there), the others before start; each with the
	// service name as alias.
	var nets []string
	if in.NetworkSettings != nil {
		nets = slices.Sorted(maps.Keys(in.NetworkSettings.Networks))
	}
	primary := string(hc.NetworkMode)
	netCfg := &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{}}
	if slices.Contains(nets, primary) && isUserNetwork(primary) {
		netCfg.EndpointsConfig[primary] = &network.EndpointSettings{Aliases: []string{tmpl.Service}}
	}

	name := cloneName(tmpl, l.cfg.Project, num)
	created, err := l.cli.ContainerCreate(ctx, client.ContainerCreateOptions{
		Config: &cfg, HostConfig: &hc, NetworkingConfig: netCfg, Name: name,
	})
	if err != nil {
		return Container{}, fmt.Errorf("create %s: %w", name, err)
	}
	fail := func(err error) (Container, error) {
		_, rmErr := l.cli.ContainerRemove(context.WithoutCancel(ctx), created.ID, client.ContainerRemoveOptions{Force: true})
		return Container{}, errors.Join(err, rmErr)
	}
	for _, net := range nets {
		if net == primary || !isUserNetwork(net) {
			continue
		}
		_, err := l.cli.NetworkConnect(ctx, net, client.NetworkConnectOptions{
			Container:      created.ID,
			EndpointConfig: &network.EndpointSettings{Aliases: []string{tmpl.Service}},
		})
		if err != nil {
			return fail(fmt.Errorf("connect %s to %s: %w", name, net, err))
		}
	}
	if _, err := l.cli.ContainerStart(ctx, created.ID, client.ContainerStartOptions{}); err != nil {
		return fail(fmt.Errorf("start %s: %w", name, err))
	}
	l.cfg.Log.Info("created replica", "container", name, "from", tmpl.Name)
	return l.inspect(ctx, created.ID)
}

// remove stops and removes c, and forgets any change recorded for it.
func (l *Lab) remove(ctx context.Context, c Container) error {
	secs := l.seconds(0)
	if _, err := l.cli.ContainerStop(ctx, c.ID, client.ContainerStopOptions{Timeout: &secs}); err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("stop %s: %w", c.Name, err)
	}
	if _, err := l.cli.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true}); err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("remove %s: %w", c.Name, err)
	}
	l.mu.Lock()
	delete(l.stopped, c.ID)
	delete(l.paused, c.ID)
	delete(l.disconnected, c.ID)
	l.mu.Unlock()
	l.cfg.Log.Info("removed replica", "container", c.Name)
	return nil
}

// isUserNetwork reports whether aliases work on the network (not the
// default bridge, host or none).
func isUserNetwork(name string) bool {
	switch container.NetworkMode(name) {
	case "", "default", "bridge", "host", "none":
		return false
	}
	return !container.NetworkMode(name).IsContainer()
}

// cloneName names replica num after tmpl's naming scheme: Compose v1
// "<project>_<service>_<n>" or v2 "<project>-<service>-<n>".
func cloneName(tmpl Container, project string, num int) string {
	suffix := strconv.Itoa(tmpl.Number)
	for _, sep := range []string{"_", "-"} {
		if tmpl.Number > 0 && strings.HasSuffix(tmpl.Name, sep+suffix) {
			return strings.TrimSuffix(tmpl.Name, suffix) + strconv.Itoa(num)
		}
	}
	return fmt.Sprintf("%s_%s_%d", project, tmpl.Service, num)
}
