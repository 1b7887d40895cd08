// envoy-check validates Envoy bootstrap configs offline, with Envoy's own API
// schema (go-control-plane) and its protoc-gen-validate rules:
//
//	envoy-check [-descriptor set.binpb] config.yaml... ("-" reads stdin)
//
// Each file is read as YAML, turned into JSON and decoded into
// envoy.config.bootstrap.v3.Bootstrap the way protojson does (unknown fields
// are errors); every typed_config (google.protobuf.Any) is resolved, unpacked
// and validated too, recursively; then the references Envoy checks on load
// (clusters of routes, the router last, jwt providers) are checked. With
// -descriptor, the services every gRPC-JSON transcoder lists must be in that
// descriptor set, with source info. Every problem is printed as
// "<file>: <path>: <message>"; the exit code is 1 when there was any.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"

	bootstrap "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"sigs.k8s.io/yaml"
)

func main() {
	descriptor := flag.String("descriptor", "", "a FileDescriptorSet: the transcoders' services must be in it")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: envoy-check [-descriptor set.binpb] config.yaml... (\"-\" reads stdin)")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	var set *descriptorSet
	if *descriptor != "" {
		var err error
		if set, err = loadDescriptorSet(*descriptor); err != nil {
			fmt.Fprintf(os.Stdout, "%s\n", err)
			os.Exit(1)
		}
	}
	failed := false
	for _, file := range flag.Args() {
		name, raw, err := read(file)
		if err != nil {
			fmt.Printf("%s: %v\n", name, err)
			failed = true
			continue
		}
		problems, warnings := check(raw, set)
		for _, w := range warnings {
			fmt.Fprintf(os.Stderr, "%s: %s: warning: %s\n", name, w.path, w.message)
		}
		for _, p := range problems {
			// One line per problem: the YAML parser's messages span several.
			message := strings.Join(strings.Fields(p.message), " ")
			if p.path == "" {
				fmt.Printf("%s: %s\n", name, message)
			} else {
				fmt.Printf("%s: %s: %s\n", name, p.path, message)
			}
		}
		if len(problems) > 0 {
			failed = true
		} else {
			fmt.Printf("%s: ok\n", name)
		}
	}
	if failed {
		os.Exit(1)
	}
}

func read(file string) (string, []byte, error) {
	if file == "-" {
		raw, err := io.ReadAll(os.Stdin)
		return "<stdin>", raw, err
	}
	raw, err := os.ReadFile(file)
	return file, raw, err
}

// check returns the problems of one config, and warnings (deprecated fields).
func check(raw []byte, set *descriptorSet) (problems, warnings []problem) {
	json, err := yaml.YAMLToJSONStrict(raw)
	if err != nil {
		return []problem{{"", fmt.Sprintf("not YAML: %v", err)}}, nil
	}
	var doc any
	if err := yaml.Unmarshal(json, &doc); err != nil {
		return []problem{{"", fmt.Sprintf("not YAML: %v", err)}}, nil
	}
	problems = append(problems, exponents(raw)...)
	b := &bootstrap.Bootstrap{}
	s := &shape{}
	s.message("", b.ProtoReflect().Descriptor(), doc)
	if len(s.problems) > 0 {
		return append(problems, s.problems...), s.warnings
	}
	// The walk above mirrors protojson; protojson has the last word.
	if err := protojson.Unmarshal(json, b); err != nil {
		return append(problems, problem{"", err.Error()}), s.warnings
	}
	v := &validator{}
	v.root(b)
	problems = append(problems, v.problems...)
	problems = append(problems, references(b, v.found)...)
	if set != nil {
		problems = append(problems, set.transcodedServices(v.found)...)
	}
	return problems, s.warnings
}

var exponent = regexp.MustCompile(`^[^#]*:\s+-?[0-9]+(\.[0-9]+)?[eE][-+]?[0-9]+\s*(#.*)?$`)

// exponents finds numbers written like 1.048576e+06 (what Helm prints for a
// large integer value without | int): protojson takes them, but whether
// Envoy's parser takes one for an integer field is not worth finding out.
func exponents(raw []byte) []problem {
	var problems []problem
	for i, line := range strings.Split(string(raw), "\n") {
		if exponent.MatchString(line) {
			problems = append(problems, problem{fmt.Sprintf("line %d", i+1), fmt.Sprintf("a number in exponent form (%s): write integers in full (Helm: | int)", strings.TrimSpace(line))})
		}
	}
	return problems
}
