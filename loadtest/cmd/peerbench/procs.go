package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// proc is one long-running process peerbench started (a backend or a proxy).
type proc struct {
	Name    string
	PID     int
	LogPath string
	// Children: count the CPU time and memory of the process's children
	// too (nginx).
	Children bool
	// path and args start the process again (restart).
	path string
	args []string
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	err  error         // Wait's result, valid after done
}

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// logTail returns the last lines of the process's log, for error messages.
func (p *proc) logTail() string {
	b, err := os.ReadFile(p.LogPath)
	if err != nil || len(b) == 0 {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-8):], "\n")
}

// procSet holds every process peerbench started, to stop them all by PID.
type procSet struct {
	logDir string
	mu     sync.Mutex
	procs  []*proc
}

// start runs path with args in its own process group, stdout and stderr
// going to logDir/name.log.
func (s *procSet) start(name, path string, args ...string) (*proc, error) {
	return s.spawn(name, path, args, os.O_TRUNC)
}

// restart stops p (as stopAll does, within grace) and starts the same
// command again, its output appended to the same log. The new process
// replaces p in the set.
func (s *procSet) restart(p *proc, grace time.Duration) (*proc, error) {
	s.mu.Lock()
	s.procs = slices.DeleteFunc(s.procs, func(x *proc) bool { return x == p })
	s.mu.Unlock()
	stopProcs([]*proc{p}, grace)
	np, err := s.spawn(p.Name, p.path, p.args, os.O_APPEND)
	if err != nil {
		return nil, err
	}
	np.Children = p.Children
	return np, nil
}

// spawn starts a process; mode is os.O_TRUNC or os.O_APPEND for its log.
func (s *procSet) spawn(name, path string, args []string, mode int) (*proc, error) {
	if err := os.MkdirAll(s.logDir, 0o755); err != nil {
		return nil, err
	}
	logPath := filepath.Join(s.logDir, name+".log")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|mode, 0o644)
	if err != nil {
		return nil, err
	}
	defer f.Close() // the child holds its own copy
	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = f, f
	// Own process group: a Ctrl-C at the terminal reaches peerbench only,
	// which then stops its children itself, nginx's workers with them.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{Name: name, PID: cmd.Process.Pid, LogPath: logPath, path: path, args: args, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	s.mu.Lock()
	s.procs = append(s.procs, p)
	s.mu.Unlock()
	return p, nil
}

// stopAll sends SIGTERM to the process group of each process (the group id
// is the PID peerbench started), waits up to grace for them to exit, then
// sends SIGKILL to what is left. It returns the number of processes stopped.
func (s *procSet) stopAll(grace time.Duration) int {
	s.mu.Lock()
	procs := s.procs
	s.procs = nil
	s.mu.Unlock()
	stopProcs(procs, grace)
	return len(procs)
}

// stopProcs stops procs as stopAll describes.
func stopProcs(procs []*proc, grace time.Duration) {
	for _, p := range procs {
		if !p.exited() {
			_ = syscall.Kill(-p.PID, syscall.SIGTERM)
		}
	}
	deadline := time.After(grace)
	for _, p := range procs {
		select {
		case <-p.done:
		case <-deadline:
		}
	}
	for _, p := range procs {
		if !p.exited() {
			_ = syscall.Kill(-p.PID, syscall.SIGKILL)
		}
		<-p.done
	}
}

// alive returns an error naming the first process that has exited.
func (s *procSet) alive() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.procs {
		if p.exited() {
			return exitError(p)
		}
	}
	return nil
}

// exitError describes an ended process with the tail of its log.
func exitError(p *proc) error {
	msg := fmt.Sprintf("%s (pid %d) exited: %v; log %s", p.Name, p.PID, p.err, p.LogPath)
	if t := p.logTail(); t != "" {
		msg += ":\n" + t
	}
	return errors.New(msg)
}

// waitOK polls url until it answers 200, the process p ends, ctx is done or
// timeout passes.
func waitOK(ctx context.Context, p *proc, url string, timeout time.Duration) error {
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	deadline := time.Now().Add(timeout)
	last := "no answer"
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		if p.exited() {
			return exitError(p)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not answer 200 on %s within %s (last: %s); log %s", p.Name, url, timeout, last, p.LogPath)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// runCheck runs a config check (haproxy -c, nginx -t, lb --check) and
// returns its output in the error when it fails.
func runCheck(ctx context.Context, what, path string, args ...string) error {
	out, err := exec.CommandContext(ctx, path, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s config check failed (%s %s): %v\n%s", what, path, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}
