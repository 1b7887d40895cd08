package main

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	udpav1 "github.com/cncf/xds/go/udpa/type/v1"
	xdsv3 "github.com/cncf/xds/go/xds/type/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"
)

// typed is a message found in the config with the path where it is: the
// root, and every message unpacked from an Any.
type typed struct {
	path string
	msg  proto.Message
}

// validator runs the protoc-gen-validate rules (ValidateAll) of the root
// message and of every message inside an Any, recursively: a message's
// ValidateAll checks its embedded messages but never looks inside an Any.
type validator struct {
	problems []problem
	found    []typed
}

type validateAll interface{ ValidateAll() error }

func (v *validator) root(msg proto.Message) {
	v.check("", msg)
	v.walk("", msg.ProtoReflect())
}

func (v *validator) check(path string, msg proto.Message) {
	v.found = append(v.found, typed{path, msg})
	if m, ok := msg.(validateAll); ok {
		if err := m.ValidateAll(); err != nil {
			v.explain(path, msg.ProtoReflect().Descriptor(), err)
		}
	}
}

// walk visits every set message field below m, unpacking each Any.
func (v *validator) walk(path string, m protoreflect.Message) {
	m.Range(func(fd protoreflect.FieldDescriptor, value protoreflect.Value) bool {
		at := join(path, string(fd.Name()))
		if fd.Message() == nil {
			return true
		}
		switch {
		case fd.IsMap():
			if fd.MapValue().Message() == nil {
				return true
			}
			value.Map().Range(func(k protoreflect.MapKey, item protoreflect.Value) bool {
				v.visit(fmt.Sprintf("%s[%s]", at, k.String()), item.Message())
				return true
			})
		case fd.IsList():
			for i := 0; i < value.List().Len(); i++ {
				v.visit(fmt.Sprintf("%s[%d]", at, i), value.List().Get(i).Message())
			}
		default:
			v.visit(at, value.Message())
		}
		return true
	})
}

func (v *validator) visit(path string, m protoreflect.Message) {
	a, ok := m.Interface().(*anypb.Any)
	if !ok {
		v.walk(path, m)
		return
	}
	inner, err := unpack(a)
	if err != nil {
		v.problems = append(v.problems, problem{path, err.Error()})
		return
	}
	v.check(path, inner)
	v.walk(path, inner.ProtoReflect())
}

// unpack opens an Any; a TypedStruct (xds or udpa) is decoded into the type it names.
func unpack(a *anypb.Any) (proto.Message, error) {
	inner, err := anypb.UnmarshalNew(a, proto.UnmarshalOptions{Resolver: protoregistry.GlobalTypes})
	if err != nil {
		return nil, fmt.Errorf("cannot unpack %s: %v", a.GetTypeUrl(), err)
	}
	var url string
	var value *structpb.Struct
	switch ts := inner.(type) {
	case *xdsv3.TypedStruct:
		url, value = ts.GetTypeUrl(), ts.GetValue()
	case *udpav1.TypedStruct:
		url, value = ts.GetTypeUrl(), ts.GetValue()
	default:
		return inner, nil
	}
	mt, err := resolveAny(url)
	if err != nil {
		return nil, fmt.Errorf("TypedStruct names unknown type %q", url)
	}
	json, err := protojson.Marshal(value)
	if err != nil {
		return nil, err
	}
	msg := mt.New().Interface()
	if err := protojson.Unmarshal(json, msg); err != nil {
		return nil, fmt.Errorf("TypedStruct value is not a %s: %v", mt.Descriptor().FullName(), err)
	}
	return msg, nil
}

// The errors protoc-gen-validate generates: a field, a reason, and for an
// embedded message the errors found inside it.
type fieldError interface {
	Field() string
	Reason() string
	Cause() error
}

type multiError interface{ AllErrors() []error }

var indexed = regexp.MustCompile(`^([A-Za-z0-9_]+)(\[(.*)\])?$`)

// explain turns validation errors (Go field names, nested causes) into
// problems at proto paths: static_resources.clusters[0].name.
func (v *validator) explain(path string, md protoreflect.MessageDescriptor, err error) {
	var multi multiError
	if errors.As(err, &multi) {
		for _, e := range multi.AllErrors() {
			v.explain(path, md, e)
		}
		return
	}
	var fe fieldError
	if !errors.As(err, &fe) {
		v.problems = append(v.problems, problem{path, err.Error()})
		return
	}
	name, suffix := fe.Field(), ""
	if m := indexed.FindStringSubmatch(name); m != nil {
		name, suffix = m[1], m[2]
	}
	fd, protoName, oneof := fieldByGoName(md, name)
	at := join(path, protoName) + suffix
	if oneof != nil {
		at = path
	}
	if fe.Cause() != nil && fd != nil {
		child := fd.Message()
		if fd.IsMap() {
			child = fd.MapValue().Message()
		}
		if child != nil {
			v.explain(at, child, fe.Cause())
			return
		}
	}
	reason := fe.Reason()
	if oneof != nil {
		reason = fmt.Sprintf("one of %s: %s", oneofFields(oneof), reason)
	}
	if fe.Cause() != nil {
		reason += ": " + fe.Cause().Error()
	}
	v.problems = append(v.problems, problem{at, reason})
}

// fieldByGoName finds the field (or oneof) protoc-gen-go named goName.
func fieldByGoName(md protoreflect.MessageDescriptor, goName string) (protoreflect.FieldDescriptor, string, protoreflect.OneofDescriptor) {
	squash := func(s string) string { return strings.ToLower(strings.ReplaceAll(s, "_", "")) }
	for i := 0; i < md.Fields().Len(); i++ {
		fd := md.Fields().Get(i)
		if squash(string(fd.Name())) == squash(goName) {
			return fd, string(fd.Name()), nil
		}
	}
	for i := 0; i < md.Oneofs().Len(); i++ {
		od := md.Oneofs().Get(i)
		if squash(string(od.Name())) == squash(goName) {
			return nil, string(od.Name()), od
		}
	}
	return nil, goName, nil
}

func oneofFields(od protoreflect.OneofDescriptor) string {
	names := make([]string, 0, od.Fields().Len())
	for i := 0; i < od.Fields().Len(); i++ {
		names = append(names, string(od.Fields().Get(i).Name()))
	}
	return strings.Join(names, ", ")
}
