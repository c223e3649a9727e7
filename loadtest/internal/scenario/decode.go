package scenario

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/agnivade/levenshtein"
	"go.yaml.in/yaml/v3"
)

// problem is one error found in a scenario file: the field it is about, the
// line it is on (0: unknown) and what is wrong.
type problem struct {
	line  int
	field string
	msg   string
}

// decoder decodes a YAML node tree into a Scenario field by field, so that
// every unknown key and every bad value is reported (yaml.v3's own decoder
// stops at the first value an Unmarshaler refuses), each with its line and
// field path.
type decoder struct {
	problems []problem
	// bad holds the field path of every value that did not decode, so that
	// validation does not report it again as missing.
	bad map[string]bool
}

func (d *decoder) fail(n *yaml.Node, path []any, msg string) {
	field := fieldPath(path)
	d.problems = append(d.problems, problem{line: n.Line, field: field, msg: msg})
	if d.bad == nil {
		d.bad = map[string]bool{}
	}
	d.bad[field] = true
}

var unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()

// value decodes n into v (addressable), reporting problems under path.
func (d *decoder) value(n *yaml.Node, v reflect.Value, path []any) {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return // as yaml.v3: null leaves the zero value
	}
	t := v.Type()
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		fresh := reflect.New(t)
		if err := n.Decode(fresh.Interface()); err != nil {
			d.fail(n, path, stripLine(err))
			return
		}
		v.Set(fresh.Elem())
		return
	}
	switch t.Kind() {
	case reflect.Pointer:
		fresh := reflect.New(t.Elem())
		before := len(d.problems)
		d.value(n, fresh.Elem(), path)
		// A section (a struct) is kept with its good fields; a value that
		// did not decode, or a section that is not a mapping, stays nil.
		if len(d.problems) == before || (t.Elem().Kind() == reflect.Struct && n.Kind == yaml.MappingNode) {
			v.Set(fresh)
		}
	case reflect.Struct:
		if d.want(n, yaml.MappingNode, path) {
			d.mapping(n, v, path)
		}
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 || !d.want(n, yaml.SequenceNode, path) {
			break
		}
		out := reflect.MakeSlice(t, len(n.Content), len(n.Content))
		for i, item := range n.Content {
			d.value(item, out.Index(i), append(slices.Clone(path), i))
		}
		v.Set(out)
	case reflect.Map:
		if t.Elem().Kind() == reflect.Interface {
			if !d.dupKeys(n, path) {
				d.scalar(n, v, path) // free-form (configure's settings): checked later
			}
			break
		}
		if t.Key().Kind() != reflect.String || !d.want(n, yaml.MappingNode, path) {
			break
		}
		out := reflect.MakeMapWithSize(t, len(n.Content)/2)
		seen := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			p := append(slices.Clone(path), k.Value)
			if first, ok := seen[k.Value]; ok {
				d.fail(k, p, fmt.Sprintf("set twice (first on line %d)", first))
				continue
			}
			seen[k.Value] = k.Line
			elem := reflect.New(t.Elem()).Elem()
			d.value(val, elem, p)
			out.SetMapIndex(reflect.ValueOf(k.Value).Convert(t.Key()), elem)
		}
		v.Set(out)
	default:
		d.scalar(n, v, path)
	}
}

// dupKeys reports each key a mapping node sets twice, on the line of the
// second, and whether there was one.
func (d *decoder) dupKeys(n *yaml.Node, path []any) bool {
	if n.Kind != yaml.MappingNode {
		return false
	}
	seen := map[string]int{}
	dup := false
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if first, ok := seen[k.Value]; ok {
			d.fail(k, append(slices.Clone(path), k.Value), fmt.Sprintf("set twice (first on line %d)", first))
			dup = true
			continue
		}
		seen[k.Value] = k.Line
	}
	if dup {
		d.bad[fieldPath(path)] = true // left undecoded
	}
	return dup
}

// scalar decodes a leaf value with yaml.v3 and words its refusal.
func (d *decoder) scalar(n *yaml.Node, v reflect.Value, path []any) {
	fresh := reflect.New(v.Type())
	if err := n.Decode(fresh.Interface()); err != nil {
		want := map[reflect.Kind]string{
			reflect.String: "a string", reflect.Bool: "true or false",
			reflect.Int: "a whole number", reflect.Int64: "a whole number",
			reflect.Uint64: "a whole number 0 or above", reflect.Float64: "a number",
			reflect.Map: "a mapping",
		}[v.Kind()]
		switch {
		case want == "" || (v.Kind() == reflect.Map && n.Kind == yaml.MappingNode):
			d.fail(n, path, stripLine(err))
		case n.Kind == yaml.ScalarNode:
			d.fail(n, path, fmt.Sprintf("%q is not %s", n.Value, want))
		default:
			d.fail(n, path, fmt.Sprintf("want %s, not %s", want, kindName(n)))
		}
		return
	}
	v.Set(fresh.Elem())
}

// want reports whether n is of kind k, and the problem if not.
func (d *decoder) want(n *yaml.Node, k yaml.Kind, path []any) bool {
	if n.Kind == k {
		return true
	}
	d.fail(n, path, fmt.Sprintf("want %s, not %s", kindName(&yaml.Node{Kind: k}), kindName(n)))
	return false
}

// kindName names what a node is, for messages.
func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return strconv.Quote(n.Value)
	}
	return "this"
}

// mapping decodes the keys of a mapping node into the struct v.
func (d *decoder) mapping(n *yaml.Node, v reflect.Value, path []any) {
	fields := yamlFields(v.Type())
	seen := map[string]int{}
	// Merge keys (<<: *anchor) first, so that the mapping's own keys win.
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i]; k.Value == "<<" && k.ShortTag() == "!!merge" {
			m := n.Content[i+1]
			if m.Kind == yaml.AliasNode && m.Alias != nil {
				m = m.Alias
			}
			if d.want(m, yaml.MappingNode, path) {
				d.mapping(m, v, path)
			}
		}
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Value == "<<" && k.ShortTag() == "!!merge" {
			continue
		}
		p := append(slices.Clone(path), k.Value)
		if first, ok := seen[k.Value]; ok {
			d.fail(k, p, fmt.Sprintf("set twice (first on line %d)", first))
			continue
		}
		seen[k.Value] = k.Line
		idx, ok := fields.index[k.Value]
		if !ok {
			d.fail(k, p, "unknown key"+didYouMean(k.Value, fields.names, "known: "))
			if guess := closest(k.Value, fields.names); guess != "" {
				// A misspelt key: the field it meant is there, not missing.
				d.bad[fieldPath(append(slices.Clone(path), guess))] = true
			}
			continue
		}
		d.value(val, v.FieldByIndex(idx), p)
	}
}

// fields lists a struct's YAML keys in declaration order with their field
// indexes (inline structs flattened).
type fields struct {
	names []string
	index map[string][]int
}

func yamlFields(t reflect.Type) fields {
	fs := fields{index: map[string][]int{}}
	var walk func(t reflect.Type, prefix []int)
	walk = func(t reflect.Type, prefix []int) {
		for i := range t.NumField() {
			f := t.Field(i)
			tag := f.Tag.Get("yaml")
			name, opts, _ := strings.Cut(tag, ",")
			idx := append(slices.Clone(prefix), i)
			switch {
			case !f.IsExported() || name == "-":
			case opts == "inline":
				walk(f.Type, idx)
			default:
				if name == "" {
					name = strings.ToLower(f.Name)
				}
				fs.names = append(fs.names, name)
				fs.index[name] = idx
			}
		}
	}
	walk(t, nil)
	return fs
}

// didYouMean suggests the known name closest to s (Levenshtein distance up
// to 2, or the same name in another case) as ` (did you mean "x"?)`; with
// none close it lists the known names after "; "+list, or returns "" when
// list is "".
func didYouMean(s string, known []string, list string) string {
	if best := closest(s, known); best != "" {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	if list == "" {
		return ""
	}
	return "; " + list + strings.Join(known, ", ")
}

// closest returns the known name closest to s: at a Levenshtein distance
// of at most 2, or the same name in another case; "" when none is.
func closest(s string, known []string) string {
	best, bestD := "", 3
	for _, k := range known {
		d := levenshtein.ComputeDistance(s, k)
		if strings.EqualFold(s, k) {
			d = 0
		}
		if d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

// stripLine drops yaml's "line N: " prefix from an Unmarshaler's error (the
// problem carries the line).
func stripLine(err error) string {
	m := err.Error()
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		m = te.Errors[0]
	}
	if sm := lineRe.FindStringSubmatch(m); sm != nil {
		return m[len(sm[0]):]
	}
	return strings.TrimPrefix(m, "yaml: ")
}

// syntaxError words a YAML syntax error with the line of the problem.
// yaml.v3 reports many of them on the line where the enclosing block
// starts (an entry indented one space too few under a list that starts on
// line 6 is reported on line 5, not on its own line 8); the line given here
// is the first line at which the document, cut after it, fails with the
// same problem: the parser reads a stream, so that is where it met it.
// Documents cut before that line parse or fail otherwise, and cut after it
// fail the same way, so the line is found by bisection from yaml's line
// (the problem is never before it). Documents of more than maxSyntaxLines
// lines keep yaml's line.
func syntaxError(file string, data []byte, err error) error {
	msg := err.Error()
	line := ""
	if sm := lineRe.FindStringSubmatch(msg); sm != nil {
		line, msg = sm[1], msg[len(sm[0]):]
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	lines := bytes.SplitAfter(data, []byte("\n"))
	if len(lines) <= maxSyntaxLines {
		same := func(n int) bool { // the first n lines fail with msg
			var node yaml.Node
			perr := yaml.Unmarshal(bytes.Join(lines[:n], nil), &node)
			return perr != nil && strings.HasSuffix(perr.Error(), ": "+msg)
		}
		from, _ := strconv.Atoi(line)
		lo := max(1, from-1)
		if n := lo + sort.Search(len(lines)-lo+1, func(i int) bool { return same(lo + i) }); n <= len(lines) {
			line = strconv.Itoa(n)
		}
	}
	if line == "" {
		return fmt.Errorf("%s: %s", file, msg)
	}
	return fmt.Errorf("%s:%s: %s", file, line, msg)
}

// maxSyntaxLines bounds the search for a syntax error's line (it parses
// parts of the document, about log2(lines) times).
const maxSyntaxLines = 10000
