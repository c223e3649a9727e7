package scenario

import (
	"fmt"
	"slices"
	"strings"
)

// Lab kinds: what a scenario's actions act on.
const (
	// LabCompose is a Compose project: containers found by their Compose labels.
	LabCompose = "compose"
	// LabSwarm is a Docker Swarm stack: tasks of its services, which Swarm
	// replaces itself when they fail.
	LabSwarm = "swarm"
)

// LabKinds lists the lab kinds.
var LabKinds = []string{LabCompose, LabSwarm}

// cannot holds, per lab kind, the actions it cannot do and why.
var cannot = map[string]map[string]string{
	LabCompose: {
		Drain: "drain acts on a Swarm node and a Compose lab has none (run the scenario against a stack: --lab swarm)",
	},
	LabSwarm: {
		Restart: "Swarm cannot restart a task in place: it replaces tasks. Use kill or stop (Swarm then starts a new task " +
			"in the slot; the run reports when) and start (which waits for that task)",
	},
}

// CheckLab reports every action of the timeline that a lab of the given
// kind cannot do, with the file, line and field, as Validate does. It is
// called once the lab the scenario runs against is known.
func (s *Scenario) CheckLab(kind string) error {
	no, ok := cannot[kind]
	if !ok {
		return fmt.Errorf("unknown lab kind %q; known: %s", kind, strings.Join(LabKinds, ", "))
	}
	v := &validator{s: s}
	for i, a := range s.Timeline {
		if why, bad := no[a.Action]; bad {
			v.add(fmt.Sprintf("%s against a %s lab: %s", a.Action, kind, why), "timeline", i, "action")
		}
	}
	return v.err()
}

// ValidLab reports whether kind is a lab kind.
func ValidLab(kind string) bool { return slices.Contains(LabKinds, kind) }
