package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// yamlDocuments splits a multi-document YAML stream and converts every
// non-empty document to JSON, rejecting duplicate keys.
func yamlDocuments(input []byte) ([]json.RawMessage, error) {
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(input)))
	var docs []json.RawMessage
	for index := 0; ; index++ {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", index, err)
		}
		converted, err := yaml.YAMLToJSONStrict(doc)
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", index, err)
		}
		if trimmed := bytes.TrimSpace(converted); len(trimmed) == 0 || bytes.Equal(trimmed, []byte("null")) {
			continue // comments only, or an empty document between separators
		}
		docs = append(docs, converted)
	}
}
