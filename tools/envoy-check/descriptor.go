package main

import (
	"fmt"
	"os"

	transcoder "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/grpc_json_transcoder/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
)

// descriptorSet is the set the transcoder will load (-descriptor): its files
// resolve (every import is included) and which files carry source info.
type descriptorSet struct {
	files      *protoregistry.Files
	sourceInfo map[string]bool
}

func loadDescriptorSet(path string) (*descriptorSet, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var set descriptorpb.FileDescriptorSet
	if err := proto.Unmarshal(raw, &set); err != nil {
		return nil, fmt.Errorf("%s: not a FileDescriptorSet: %v", path, err)
	}
	// Concatenated sets may repeat a file; keep the first of each name.
	seen := map[string]bool{}
	unique := &descriptorpb.FileDescriptorSet{}
	sourceInfo := map[string]bool{}
	for _, f := range set.GetFile() {
		if seen[f.GetName()] {
			continue
		}
		seen[f.GetName()] = true
		unique.File = append(unique.File, f)
		sourceInfo[f.GetName()] = len(f.GetSourceCodeInfo().GetLocation()) > 0
	}
	files, err := protodesc.NewFiles(unique)
	if err != nil {
		return nil, fmt.Errorf("%s: the files do not resolve (build it with imports included): %v", path, err)
	}
	return &descriptorSet{files, sourceInfo}, nil
}

// transcodedServices checks that every service a transcoder lists is in the set.
func (d *descriptorSet) transcodedServices(found []typed) []problem {
	var problems []problem
	for _, t := range found {
		tc, ok := t.msg.(*transcoder.GrpcJsonTranscoder)
		if !ok {
			continue
		}
		for i, name := range tc.GetServices() {
			at := fmt.Sprintf("%s.services[%d]", t.path, i)
			desc, err := d.files.FindDescriptorByName(protoreflect.FullName(name))
			if err != nil {
				problems = append(problems, problem{at, fmt.Sprintf("service %q is not in the descriptor set", name)})
				continue
			}
			sd, ok := desc.(protoreflect.ServiceDescriptor)
			if !ok {
				problems = append(problems, problem{at, fmt.Sprintf("%q is not a service", name)})
				continue
			}
			if file := sd.ParentFile().Path(); !d.sourceInfo[file] {
				problems = append(problems, problem{at, fmt.Sprintf("%s (which declares %s) has no source info in the descriptor set", file, name)})
			}
		}
	}
	return problems
}
