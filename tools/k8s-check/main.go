// Command k8s-check validates deployment files offline, with no cluster:
//
//	k8s-check objects  < rendered.yaml  every object strictly decoded into the
//	                                    typed Kubernetes API (unknown or
//	                                    mistyped fields rejected) and checked
//	                                    like the API server's basic validation
//	k8s-check skaffold skaffold.yaml [DIR]  skaffold/v4beta13 structure, strictly,
//	                                    and the files it names (relative to DIR,
//	                                    default: the file's directory)
//	k8s-check yaml2json < file.yaml     every YAML document as one JSON array
//
// objects prints {"objects":[...],"errors":[...]} (the objects as rendered,
// as JSON, so tests can make their own checks); every command exits 1 when
// it found errors and 2 on bad usage.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var errs []string
	switch os.Args[1] {
	case "objects":
		input, err := io.ReadAll(os.Stdin)
		if err != nil {
			fatal(err)
		}
		objects, problems := checkObjects(input)
		errs = problems
		if objects == nil {
			objects = []json.RawMessage{}
		}
		if errs == nil {
			errs = []string{}
		}
		out, err := json.Marshal(map[string]any{"objects": objects, "errors": errs})
		if err != nil {
			fatal(err)
		}
		fmt.Println(string(out))
	case "skaffold":
		if len(os.Args) != 3 && len(os.Args) != 4 {
			usage()
		}
		base := filepath.Dir(os.Args[2])
		if len(os.Args) == 4 {
			base = os.Args[3]
		}
		errs = checkSkaffold(os.Args[2], base)
		for _, e := range errs {
			fmt.Fprintln(os.Stderr, e)
		}
		if len(errs) == 0 {
			fmt.Println("skaffold config is valid")
		}
	case "yaml2json":
		input, err := io.ReadAll(os.Stdin)
		if err != nil {
			fatal(err)
		}
		docs, err := yamlDocuments(input)
		if err != nil {
			fatal(err)
		}
		if docs == nil {
			docs = []json.RawMessage{}
		}
		out, err := json.Marshal(docs)
		if err != nil {
			fatal(err)
		}
		fmt.Println(string(out))
	default:
		usage()
	}
	if len(errs) > 0 {
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: k8s-check objects < manifests.yaml | k8s-check skaffold FILE [DIR] | k8s-check yaml2json < file.yaml")
	os.Exit(2)
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "k8s-check:", err)
	os.Exit(1)
}
