package lab

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
)

// endpoint is what reconnecting a container to a network needs back.
type endpoint struct {
	Network    string
	Aliases    []string
	Links      []string
	IPAMConfig *network.EndpointIPAMConfig
}

// Disconnect cuts the container off every network it is attached to: a
// partition. The balancer's connections to it fail or time out, and Docker's
// DNS stops answering with its address. Reconnect (or Restore) puts it back
// with the same aliases.
func (l *Lab) Disconnect(ctx context.Context, ref Ref) (Container, error) {
	c, err := l.Find(ctx, ref)
	if err != nil {
		return c, err
	}
	res, err := l.cli.ContainerInspect(ctx, c.ID, client.ContainerInspectOptions{})
	if err != nil {
		return c, fmt.Errorf("disconnect %s: %w", c.Name, err)
	}
	var eps []endpoint
	if ns := res.Container.NetworkSettings; ns != nil {
		for name, es := range ns.Networks {
			if es == nil {
				continue
			}
			eps = append(eps, endpoint{Network: name, Aliases: userAliases(es.Aliases, c.ID), Links: es.Links, IPAMConfig: es.IPAMConfig})
		}
	}
	if len(eps) == 0 {
		return c, fmt.Errorf("disconnect %s: it is on no network", c.Name)
	}
	slices.SortFunc(eps, func(a, b endpoint) int { return strings.Compare(a.Network, b.Network) })
	var done []endpoint
	for _, ep := range eps {
		if _, err := l.cli.NetworkDisconnect(ctx, ep.Network, client.NetworkDisconnectOptions{Container: c.ID, Force: true}); err != nil {
			// Record what was cut, so Restore puts it back, and this
			// network too: the daemon may carry out a request that failed
			// here (one cancelled by Ctrl-C was, and Restore left the
			// container cut off). Reconnecting one still attached is a no-op.
			l.recordCut(c.ID, append(done, ep))
			return c, fmt.Errorf("disconnect %s from %s: %w", c.Name, ep.Network, err)
		}
		done = append(done, ep)
	}
	l.recordCut(c.ID, done)
	l.cfg.Log.Info("disconnected container", "container", c.Name, "networks", len(done))
	return l.refresh(ctx, c), nil
}

func (l *Lab) recordCut(id string, eps []endpoint) {
	if len(eps) == 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.disconnected[id] = append(l.disconnected[id], eps...)
}

// Reconnect attaches the container again to the networks Disconnect cut it
// from, with the same aliases.
func (l *Lab) Reconnect(ctx context.Context, ref Ref) (Container, error) {
	c, err := l.Find(ctx, ref)
	if err != nil {
		return c, err
	}
	l.mu.Lock()
	eps := l.disconnected[c.ID]
	l.mu.Unlock()
	if len(eps) == 0 {
		return c, fmt.Errorf("reconnect %s: it was not disconnected by this run", c.Name)
	}
	if err := l.reconnect(ctx, c.ID, eps); err != nil {
		return c, err
	}
	return l.refresh(ctx, c), nil
}

func (l *Lab) reconnect(ctx context.Context, id string, eps []endpoint) error {
	name := id
	l.mu.Lock()
	if c, ok := l.known[id]; ok {
		name = c.Name
	}
	l.mu.Unlock()
	var errs []error
	var left []endpoint
	for _, ep := range eps {
		_, err := l.cli.NetworkConnect(ctx, ep.Network, client.NetworkConnectOptions{
			Container:      id,
			EndpointConfig: &network.EndpointSettings{Aliases: ep.Aliases, Links: ep.Links, IPAMConfig: ep.IPAMConfig},
		})
		switch {
		case err == nil, isAlreadyConnected(err):
		case cerrdefs.IsNotFound(err):
			// The container or network is gone: nothing to put back.
		default:
			errs = append(errs, fmt.Errorf("reconnect %s to %s: %w", name, ep.Network, err))
			left = append(left, ep)
		}
	}
	l.mu.Lock()
	if len(left) == 0 {
		delete(l.disconnected, id)
	} else {
		l.disconnected[id] = left
	}
	l.mu.Unlock()
	if len(errs) == 0 {
		l.cfg.Log.Info("reconnected container", "container", name, "networks", len(eps))
	}
	return errors.Join(errs...)
}

func isAlreadyConnected(err error) bool {
	return strings.Contains(err.Error(), "already exists in network") || strings.Contains(err.Error(), "already connected")
}

// userAliases drops the aliases Docker adds by itself (the short container
// ID), which it re-adds on connect.
func userAliases(aliases []string, id string) []string {
	var out []string
	for _, a := range aliases {
		if len(a) >= 12 && strings.HasPrefix(id, a) {
			continue
		}
		out = append(out, a)
	}
	return out
}
