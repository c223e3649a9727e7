package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
)

// decodeStrict decodes the JSON object in data into the struct pointed to by dst,
// key by key, so that every unknown key and every badly typed value is reported,
// not only the first. Keys absent from data keep the value dst already holds (the
// default). Slices of structs are decoded the same way, element by element. Each
// error names the key path, e.g. "backend_servers[1].port".
func decodeStrict(data []byte, dst any, path string) []error {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(data, &obj); err != nil {
		return []error{fmt.Errorf("%s: %s", orTop(path), describeJSONError(err, data))}
	}
	if obj == nil {
		return []error{fmt.Errorf("%s: must be a JSON object, not null", orTop(path))}
	}
	v := reflect.ValueOf(dst).Elem()
	fields := jsonFields(v.Type())
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	slices.Sort(keys)

	var errs []error
	for _, k := range keys {
		raw := obj[k]
		name := joinPath(path, k)
		idx, ok := fields[k]
		if !ok {
			errs = append(errs, fmt.Errorf("%s: unknown key%s", name, suggest(k, fields)))
			continue
		}
		f := v.Field(idx)
		if f.Kind() == reflect.Slice && f.Type().Elem().Kind() == reflect.Struct {
			errs = append(errs, decodeStructSlice(raw, f, name)...)
			continue
		}
		fresh := reflect.New(f.Type())
		if err := json.Unmarshal(raw, fresh.Interface()); err != nil {
			errs = append(errs, fmt.Errorf("%s: %s: %s", name, raw, describeJSONError(err, raw)))
			continue
		}
		f.Set(fresh.Elem())
	}
	return errs
}

func decodeStructSlice(raw json.RawMessage, f reflect.Value, name string) []error {
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return []error{fmt.Errorf("%s: must be a list of objects", name)}
	}
	out := reflect.MakeSlice(f.Type(), len(items), len(items))
	var errs []error
	for i, item := range items {
		elem := out.Index(i)
		if d, ok := elem.Addr().Interface().(interface{ setDefaults() }); ok {
			d.setDefaults()
		}
		errs = append(errs, decodeStrict(item, elem.Addr().Interface(), fmt.Sprintf("%s[%d]", name, i))...)
	}
	f.Set(out)
	return errs
}

// jsonFields maps the JSON key of each exported field of t to its index.
func jsonFields(t reflect.Type) map[string]int {
	m := make(map[string]int, t.NumField())
	for i := range t.NumField() {
		tag := t.Field(i).Tag.Get("json")
		name, _, _ := strings.Cut(tag, ",")
		if name == "" || name == "-" {
			continue
		}
		m[name] = i
	}
	return m
}

func describeJSONError(err error, data []byte) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("wrong type: expected %s, got %s", kindName(te.Type), te.Value)
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		line := 1 + bytes.Count(data[:min(int(se.Offset), len(data))], []byte("\n"))
		return fmt.Sprintf("invalid JSON at line %d: %v", line, err)
	}
	return err.Error()
}

func kindName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Int, reflect.Int64, reflect.Int32, reflect.Uint, reflect.Uint64, reflect.Uint32:
		return "an integer"
	case reflect.Float64, reflect.Float32:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice:
		return "a list"
	case reflect.Struct, reflect.Map:
		return "an object"
	}
	return t.String()
}

func suggest(k string, fields map[string]int) string {
	best, bestD := "", 3
	for name := range fields {
		if d := editDistance(k, name); d < bestD || (d == bestD && name < best) {
			best, bestD = name, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// editDistance is the Levenshtein distance, used only to suggest a key name.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func joinPath(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}

func orTop(path string) string {
	if path == "" {
		return "config"
	}
	return path
}
