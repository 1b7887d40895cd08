package main

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
)

// shape walks the JSON form of a config beside the protobuf descriptors, the
// way protojson reads it, and reports every field it cannot place with the
// path where it is: unknown fields, unknown enum values, values of the wrong
// JSON kind, Any values whose @type is unknown. protojson stops at the first
// problem and names a JSON offset; this names all of them by path.
type shape struct {
	problems []problem
	warnings []problem
}

type problem struct {
	path    string
	message string
}

func (s *shape) fail(path, format string, args ...any) {
	s.problems = append(s.problems, problem{path, fmt.Sprintf(format, args...)})
}

var durationPattern = regexp.MustCompile(`^-?[0-9]+(\.[0-9]{1,9})?s$`)

// resolveAny finds the message type an Any's type URL names.
func resolveAny(url string) (protoreflect.MessageType, error) {
	return protoregistry.GlobalTypes.FindMessageByURL(url)
}

func (s *shape) message(path string, md protoreflect.MessageDescriptor, v any) {
	switch md.FullName() {
	case "google.protobuf.Any":
		s.anyValue(path, v)
		return
	case "google.protobuf.Duration":
		if str, ok := v.(string); !ok || !durationPattern.MatchString(str) {
			s.fail(path, "a duration is a string of seconds with an s suffix, e.g. \"5s\" or \"0.250s\"; got %s", show(v))
		}
		return
	case "google.protobuf.Timestamp", "google.protobuf.FieldMask":
		if _, ok := v.(string); !ok {
			s.fail(path, "%s is a string in JSON; got %s", md.FullName(), show(v))
		}
		return
	case "google.protobuf.Struct":
		if _, ok := v.(map[string]any); !ok {
			s.fail(path, "expected an object; got %s", show(v))
		}
		return
	case "google.protobuf.Value":
		return
	case "google.protobuf.ListValue":
		if _, ok := v.([]any); !ok {
			s.fail(path, "expected a list; got %s", show(v))
		}
		return
	case "google.protobuf.BoolValue", "google.protobuf.StringValue", "google.protobuf.BytesValue",
		"google.protobuf.Int32Value", "google.protobuf.Int64Value", "google.protobuf.UInt32Value",
		"google.protobuf.UInt64Value", "google.protobuf.FloatValue", "google.protobuf.DoubleValue":
		s.scalar(path, md.Fields().ByName("value"), v)
		return
	}
	obj, ok := v.(map[string]any)
	if !ok {
		s.fail(path, "expected an object (%s); got %s", md.FullName(), show(v))
		return
	}
	s.fields(path, md, obj, nil)
}

// fields checks an object's keys against a message's fields; skip names keys
// that are not fields (an Any's "@type").
func (s *shape) fields(path string, md protoreflect.MessageDescriptor, obj map[string]any, skip map[string]bool) {
	oneofs := map[protoreflect.FullName]string{}
	for _, key := range sortedKeys(obj) {
		if skip[key] {
			continue
		}
		v := obj[key]
		at := join(path, key)
		fd := md.Fields().ByJSONName(key)
		if fd == nil {
			fd = md.Fields().ByTextName(key)
		}
		if fd == nil {
			s.fail(at, "unknown field %q of %s%s", key, md.FullName(), suggest(md, key))
			continue
		}
		if opts, ok := fd.Options().(*descriptorpb.FieldOptions); ok && opts.GetDeprecated() {
			s.warnings = append(s.warnings, problem{at, fmt.Sprintf("%s is deprecated", fd.FullName())})
		}
		if v == nil && (fd.Message() == nil || fd.Message().FullName() != "google.protobuf.Value") {
			continue // null: unset
		}
		if od := fd.ContainingOneof(); od != nil && !od.IsSynthetic() {
			if other, seen := oneofs[od.FullName()]; seen {
				s.fail(at, "%s and %s are alternatives (oneof %s): set only one", other, key, od.Name())
			}
			oneofs[od.FullName()] = key
		}
		switch {
		case fd.IsMap():
			m, ok := v.(map[string]any)
			if !ok {
				s.fail(at, "expected a map; got %s", show(v))
				continue
			}
			for _, k := range sortedKeys(m) {
				s.single(fmt.Sprintf("%s[%s]", at, k), fd.MapValue(), m[k])
			}
		case fd.IsList():
			list, ok := v.([]any)
			if !ok {
				s.fail(at, "expected a list; got %s", show(v))
				continue
			}
			for i, item := range list {
				s.single(fmt.Sprintf("%s[%d]", at, i), fd, item)
			}
		default:
			s.single(at, fd, v)
		}
	}
}

func (s *shape) single(path string, fd protoreflect.FieldDescriptor, v any) {
	if fd.Kind() == protoreflect.MessageKind || fd.Kind() == protoreflect.GroupKind {
		s.message(path, fd.Message(), v)
		return
	}
	s.scalar(path, fd, v)
}

func (s *shape) scalar(path string, fd protoreflect.FieldDescriptor, v any) {
	switch fd.Kind() {
	case protoreflect.EnumKind:
		switch x := v.(type) {
		case string:
			if fd.Enum().Values().ByName(protoreflect.Name(x)) == nil {
				s.fail(path, "%q is not a value of enum %s (one of %s)", x, fd.Enum().FullName(), enumNames(fd.Enum()))
			}
		case float64:
			// protojson accepts numbers, open enums any number.
		default:
			s.fail(path, "expected a value of enum %s; got %s", fd.Enum().FullName(), show(v))
		}
	case protoreflect.BoolKind:
		if _, ok := v.(bool); !ok {
			s.fail(path, "expected true or false; got %s", show(v))
		}
	case protoreflect.StringKind, protoreflect.BytesKind:
		if _, ok := v.(string); !ok {
			s.fail(path, "expected a string; got %s", show(v))
		}
	default: // numbers: a JSON number, or a string holding one
		switch x := v.(type) {
		case float64:
		case string:
			if _, err := strconv.ParseFloat(x, 64); err != nil {
				s.fail(path, "expected a number; got %s", show(v))
			}
		default:
			s.fail(path, "expected a number; got %s", show(v))
		}
	}
}

func (s *shape) anyValue(path string, v any) {
	obj, ok := v.(map[string]any)
	if !ok {
		s.fail(path, "expected an object with \"@type\"; got %s", show(v))
		return
	}
	url, ok := obj["@type"].(string)
	if !ok {
		s.fail(path, "a typed config needs \"@type\": type.googleapis.com/<message>")
		return
	}
	mt, err := resolveAny(url)
	if err != nil {
		s.fail(join(path, "@type"), "unknown @type %q: not an Envoy message this checker knows (misspelled, or an extension missing from tools/envoy-check/extensions.go)", url)
		return
	}
	md := mt.Descriptor()
	if wellKnownJSON(md.FullName()) {
		s.message(join(path, "value"), md, obj["value"])
		for _, key := range sortedKeys(obj) {
			if key != "@type" && key != "value" {
				s.fail(join(path, key), "unknown field %q: a %s in an Any has only \"value\"", key, md.FullName())
			}
		}
		return
	}
	s.fields(path, md, obj, map[string]bool{"@type": true})
}

// wellKnownJSON: types with a JSON form of their own, which an Any holds in "value".
func wellKnownJSON(name protoreflect.FullName) bool {
	switch name {
	case "google.protobuf.Any", "google.protobuf.Duration", "google.protobuf.Timestamp", "google.protobuf.FieldMask",
		"google.protobuf.Struct", "google.protobuf.Value", "google.protobuf.ListValue", "google.protobuf.Empty",
		"google.protobuf.BoolValue", "google.protobuf.StringValue", "google.protobuf.BytesValue",
		"google.protobuf.Int32Value", "google.protobuf.Int64Value", "google.protobuf.UInt32Value",
		"google.protobuf.UInt64Value", "google.protobuf.FloatValue", "google.protobuf.DoubleValue":
		return true
	}
	return false
}

func enumNames(ed protoreflect.EnumDescriptor) string {
	names := make([]string, 0, ed.Values().Len())
	for i := 0; i < ed.Values().Len(); i++ {
		names = append(names, string(ed.Values().Get(i).Name()))
	}
	return strings.Join(names, ", ")
}

// suggest names a field whose spelling is close to an unknown key.
func suggest(md protoreflect.MessageDescriptor, key string) string {
	best, bestDistance := "", 3
	for i := 0; i < md.Fields().Len(); i++ {
		name := string(md.Fields().Get(i).Name())
		if d := distance(strings.ToLower(key), name); d < bestDistance {
			best, bestDistance = name, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// distance is the Levenshtein distance of two short strings.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func show(v any) string {
	switch v.(type) {
	case map[string]any:
		return "an object"
	case []any:
		return "a list"
	case nil:
		return "null"
	}
	b, _ := json.Marshal(v)
	s := string(b)
	if len(s) > 60 {
		s = s[:57] + "..."
	}
	return s
}
