package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"
)

// The skaffold/v4beta13 fields this project may use, as skaffold's published JSON
// schema names them (skaffold itself cannot be built from the module proxy).
// Names, types, required fields and the enums checked below were cross-checked
// on 2026-11-27 against docs-v2/content/en/schemas/v4beta13.json of the
// skaffold repository (GoogleContainerTools/skaffold, commit
// 635ef64478757f4aa12caf5a4b8dbd5bb08910c0); each type names its definition.
// Decoding is strict: a field that is not here is an error, as it is for
// skaffold, whose schema sets additionalProperties false on these objects.
// Fields skaffold has and this project does not use are left out on purpose
// (other builders, test, verify, manifests, hooks, dateTime/customTemplate
// taggers, ...): using one needs a look at the schema and a line here.
const skaffoldAPIVersion = "skaffold/v4beta13"

// SkaffoldConfig; apiVersion and kind are required.
type skaffoldConfig struct {
	APIVersion  string                `json:"apiVersion"`
	Kind        string                `json:"kind"`
	Metadata    *skaffoldMetadata     `json:"metadata,omitempty"`
	Build       *skaffoldBuild        `json:"build,omitempty"`
	Deploy      *skaffoldDeploy       `json:"deploy,omitempty"`
	PortForward []skaffoldPortForward `json:"portForward,omitempty"`
	Profiles    []skaffoldProfile     `json:"profiles,omitempty"`
}

// Metadata.
type skaffoldMetadata struct {
	Name        string            `json:"name,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// BuildConfig, its variant with local (the schema's anyOf allows one of local,
// googleCloudBuild, cluster).
type skaffoldBuild struct {
	Artifacts []skaffoldArtifact `json:"artifacts,omitempty"`
	TagPolicy *skaffoldTagPolicy `json:"tagPolicy,omitempty"`
	Platforms []string           `json:"platforms,omitempty"`
	Local     *skaffoldLocal     `json:"local,omitempty"`
	Insecure  []string           `json:"insecureRegistries,omitempty"`
}

// Artifact, its variant with docker; image is required.
type skaffoldArtifact struct {
	Image   string          `json:"image"`
	Context string          `json:"context,omitempty"`
	Docker  *skaffoldDocker `json:"docker,omitempty"`
}

// DockerArtifact. buildArgs values are strings in the schema; a pointer only
// so that a null value (which the schema rejects) can be reported.
type skaffoldDocker struct {
	Dockerfile string             `json:"dockerfile,omitempty"`
	Target     string             `json:"target,omitempty"`
	BuildArgs  map[string]*string `json:"buildArgs,omitempty"`
	CacheFrom  []string           `json:"cacheFrom,omitempty"`
	NoCache    bool               `json:"noCache,omitempty"`
	PullParent bool               `json:"pullParent,omitempty"`
}

// TagPolicy: GitTagger, ShaTagger, InputDigest, EnvTemplateTagger (template
// required).
type skaffoldTagPolicy struct {
	GitCommit *struct {
		Variant       string `json:"variant,omitempty"`
		Prefix        string `json:"prefix,omitempty"`
		IgnoreChanges bool   `json:"ignoreChanges,omitempty"`
	} `json:"gitCommit,omitempty"`
	Sha256      *struct{} `json:"sha256,omitempty"`
	InputDigest *struct{} `json:"inputDigest,omitempty"`
	EnvTemplate *struct {
		Template string `json:"template"`
	} `json:"envTemplate,omitempty"`
}

// LocalBuild (all of its fields).
type skaffoldLocal struct {
	Push             *bool `json:"push,omitempty"`
	TryImportMissing bool  `json:"tryImportMissing,omitempty"`
	UseDockerCLI     bool  `json:"useDockerCLI,omitempty"`
	UseBuildkit      *bool `json:"useBuildkit,omitempty"`
	Concurrency      *int  `json:"concurrency,omitempty"`
}

// DeployConfig.
type skaffoldDeploy struct {
	Helm                          *skaffoldHelm `json:"helm,omitempty"`
	StatusCheck                   *bool         `json:"statusCheck,omitempty"`
	StatusCheckDeadlineSeconds    int           `json:"statusCheckDeadlineSeconds,omitempty"`
	TolerateFailuresUntilDeadline bool          `json:"tolerateFailuresUntilDeadline,omitempty"`
	KubeContext                   string        `json:"kubeContext,omitempty"`
}

// LegacyHelmDeploy (deploy.helm) with HelmDeployFlags.
type skaffoldHelm struct {
	Releases    []skaffoldRelease `json:"releases,omitempty"`
	Concurrency *int              `json:"concurrency,omitempty"`
	Flags       *struct {
		Global   []string `json:"global,omitempty"`
		Install  []string `json:"install,omitempty"`
		Upgrade  []string `json:"upgrade,omitempty"`
		DepBuild []string `json:"depBuild,omitempty"`
		Template []string `json:"template,omitempty"`
	} `json:"flags,omitempty"`
}

// HelmRelease; name is required. setValues and setValueTemplates have no type
// in the schema: skaffold reads them as a FlatMap (nested maps become dotted
// keys, scalars their text).
type skaffoldRelease struct {
	Name              string            `json:"name"`
	ChartPath         string            `json:"chartPath,omitempty"`
	ValuesFiles       []string          `json:"valuesFiles,omitempty"`
	Namespace         string            `json:"namespace,omitempty"`
	SetValues         map[string]any    `json:"setValues,omitempty"`
	SetValueTemplates map[string]any    `json:"setValueTemplates,omitempty"`
	SetFiles          map[string]string `json:"setFiles,omitempty"`
	CreateNamespace   *bool             `json:"createNamespace,omitempty"`
	Wait              bool              `json:"wait,omitempty"`
	UpgradeOnChange   *bool             `json:"upgradeOnChange,omitempty"`
	SkipBuildDeps     bool              `json:"skipBuildDependencies,omitempty"`
}

// PortForwardResource; port is a string or an integer. The schema requires
// none of its fields; checkSkaffoldConfig asks for the three skaffold cannot
// forward without.
type skaffoldPortForward struct {
	ResourceType string        `json:"resourceType,omitempty"`
	ResourceName string        `json:"resourceName,omitempty"`
	Namespace    string        `json:"namespace,omitempty"`
	Port         *skaffoldPort `json:"port,omitempty"`
	Address      string        `json:"address,omitempty"`
	LocalPort    int           `json:"localPort,omitempty"`
}

type skaffoldPort struct{ value any }

func (p *skaffoldPort) UnmarshalJSON(data []byte) error {
	var s string
	if err := json.Unmarshal(data, &s); err == nil {
		p.value = s
		return nil
	}
	var n int
	if err := json.Unmarshal(data, &n); err == nil {
		p.value = n
		return nil
	}
	return fmt.Errorf("portForward port must be a string or an integer, got %s", data)
}

// Profile (name required) with Activation.
type skaffoldProfile struct {
	Name       string `json:"name"`
	Activation []struct {
		Env         string `json:"env,omitempty"`
		KubeContext string `json:"kubeContext,omitempty"`
		Command     string `json:"command,omitempty"`
	} `json:"activation,omitempty"`
	RequiresAllActivations bool                  `json:"requiresAllActivations,omitempty"`
	Patches                []skaffoldPatch       `json:"patches,omitempty"`
	Build                  *skaffoldBuild        `json:"build,omitempty"`
	Deploy                 *skaffoldDeploy       `json:"deploy,omitempty"`
	PortForward            []skaffoldPortForward `json:"portForward,omitempty"`
}

// JSONPatch; path is required, op defaults to replace.
type skaffoldPatch struct {
	Op    string          `json:"op,omitempty"`
	Path  string          `json:"path"`
	From  string          `json:"from,omitempty"`
	Value json.RawMessage `json:"value,omitempty"`
}

// GitTagger.variant's enum.
var gitTaggerVariants = []string{"Tags", "CommitSha", "AbbrevCommitSha", "TreeSha", "AbbrevTreeSha"}

var imageName = regexp.MustCompile(`^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$`)
var imageTemplate = regexp.MustCompile(`\{\{\s*\.IMAGE_(?:REPO|TAG|DIGEST|NAME|FULLY_QUALIFIED)_([A-Za-z0-9_]+)\s*\}\}`)

// checkSkaffold validates a skaffold.yaml: strictly against the fields above,
// then every profile applied (its patches and its replacing sections), then
// the files, Dockerfile targets and images it refers to.
func checkSkaffold(file, base string) []string {
	raw, err := os.ReadFile(file)
	if err != nil {
		return []string{err.Error()}
	}
	docJSON, err := yaml.YAMLToJSONStrict(raw)
	if err != nil {
		return []string{err.Error()}
	}
	var errs []string
	var config skaffoldConfig
	if err := yaml.UnmarshalStrict(raw, &config); err != nil {
		return []string{fmt.Sprintf("%s: %v", file, err)}
	}
	errs = append(errs, checkSkaffoldConfig(&config, base, "")...)

	names := map[string]bool{}
	for i, profile := range config.Profiles {
		where := fmt.Sprintf("profiles[%d] (%s)", i, profile.Name)
		if profile.Name == "" || names[profile.Name] {
			errs = append(errs, where+": a unique name is required")
		}
		names[profile.Name] = true
		var doc any
		if err := json.Unmarshal(docJSON, &doc); err != nil {
			return append(errs, err.Error())
		}
		root := doc.(map[string]any)
		delete(root, "profiles")
		for j, patch := range profile.Patches {
			if doc, err = applyPatch(doc, patch); err != nil {
				errs = append(errs, fmt.Sprintf("%s.patches[%d]: %v", where, j, err))
			}
		}
		patched, _ := json.Marshal(doc)
		var applied skaffoldConfig
		if err := yaml.UnmarshalStrict(patched, &applied); err != nil {
			errs = append(errs, fmt.Sprintf("%s: after its patches: %v", where, err))
			continue
		}
		// A profile's sections replace the main ones.
		if profile.Build != nil {
			applied.Build = profile.Build
		}
		if profile.Deploy != nil {
			applied.Deploy = profile.Deploy
		}
		if profile.PortForward != nil {
			applied.PortForward = profile.PortForward
		}
		errs = append(errs, checkSkaffoldConfig(&applied, base, where+": ")...)
	}
	return errs
}

func checkSkaffoldConfig(c *skaffoldConfig, base, where string) []string {
	var errs []string
	fail := func(format string, args ...any) { errs = append(errs, where+fmt.Sprintf(format, args...)) }
	if c.APIVersion != skaffoldAPIVersion {
		fail("apiVersion must be %s (the schema this check knows), got %q", skaffoldAPIVersion, c.APIVersion)
	}
	if c.Kind != "Config" {
		fail("kind must be Config, got %q", c.Kind)
	}
	artifacts := map[string]bool{}
	if c.Build != nil {
		if tp := c.Build.TagPolicy; tp != nil {
			n := 0
			for _, set := range []bool{tp.GitCommit != nil, tp.Sha256 != nil, tp.InputDigest != nil, tp.EnvTemplate != nil} {
				if set {
					n++
				}
			}
			if n != 1 {
				fail("build.tagPolicy: exactly one tagger")
			}
			if tp.GitCommit != nil && tp.GitCommit.Variant != "" && !slices.Contains(gitTaggerVariants, tp.GitCommit.Variant) {
				fail("build.tagPolicy.gitCommit.variant %q is not one of %s", tp.GitCommit.Variant, strings.Join(gitTaggerVariants, ", "))
			}
			if tp.EnvTemplate != nil && tp.EnvTemplate.Template == "" {
				fail("build.tagPolicy.envTemplate: template is required")
			}
		}
		for i, a := range c.Build.Artifacts {
			ap := fmt.Sprintf("build.artifacts[%d] (%s)", i, a.Image)
			if !imageName.MatchString(a.Image) {
				fail("%s: image must be a lowercase repository name without tag", ap)
			}
			key := strings.NewReplacer("/", "_", "-", "_", ".", "_").Replace(a.Image)
			if artifacts[key] {
				fail("%s: built twice", ap)
			}
			artifacts[key] = true
			if a.Docker == nil {
				fail("%s: docker is required (the only builder used here)", ap)
				continue
			}
			for arg, value := range a.Docker.BuildArgs {
				if value == nil {
					fail("%s: docker.buildArgs[%s] must be a string, not null", ap, arg)
				}
			}
			dockerfile := a.Docker.Dockerfile
			if dockerfile == "" {
				dockerfile = "Dockerfile"
			}
			path := filepath.Join(base, a.Context, dockerfile)
			content, err := os.ReadFile(path)
			if err != nil {
				fail("%s: %v", ap, err)
				continue
			}
			if a.Docker.Target != "" && !regexp.MustCompile(`(?im)^FROM\s+\S+\s+AS\s+`+regexp.QuoteMeta(a.Docker.Target)+`\s*$`).Match(content) {
				fail("%s: %s has no stage named %q", ap, dockerfile, a.Docker.Target)
			}
		}
	}
	if c.Deploy == nil || c.Deploy.Helm == nil || len(c.Deploy.Helm.Releases) == 0 {
		fail("deploy.helm.releases: at least one release")
		return errs
	}
	used := map[string]bool{}
	for i, r := range c.Deploy.Helm.Releases {
		rp := fmt.Sprintf("deploy.helm.releases[%d] (%s)", i, r.Name)
		if r.Name == "" {
			fail("%s: name is required", rp)
		}
		if _, err := os.Stat(filepath.Join(base, r.ChartPath, "Chart.yaml")); err != nil {
			fail("%s: chartPath: %v", rp, err)
		}
		for _, f := range r.ValuesFiles {
			if _, err := os.Stat(filepath.Join(base, f)); err != nil {
				fail("%s: valuesFiles: %v", rp, err)
			}
		}
		for key, f := range r.SetFiles {
			if _, err := os.Stat(filepath.Join(base, f)); err != nil {
				fail("%s: setFiles[%s]: %v", rp, key, err)
			}
		}
		for key, tmpl := range flatMap(r.SetValueTemplates) {
			for _, m := range imageTemplate.FindAllStringSubmatch(tmpl, -1) {
				if !artifacts[m[1]] {
					fail("%s: setValueTemplates[%s] names artifact %q, which is not built", rp, key, m[1])
				}
				used[m[1]] = true
			}
		}
	}
	for name := range artifacts {
		if !used[name] {
			fail("artifact %s is built but no release uses it (setValueTemplates IMAGE_REPO_%s / IMAGE_TAG_%s)", name, name, name)
		}
	}
	for i, pf := range c.PortForward {
		if pf.ResourceType == "" || pf.ResourceName == "" || pf.Port == nil {
			fail("portForward[%d]: resourceType, resourceName and port must be set (optional in the schema, but skaffold cannot forward without them)", i)
		}
	}
	return errs
}

// flatMap reads a setValues/setValueTemplates map as skaffold's FlatMap does:
// nested maps become dot-separated keys, other values their text.
func flatMap(m map[string]any) map[string]string {
	flat := map[string]string{}
	var walk func(prefix string, m map[string]any)
	walk = func(prefix string, m map[string]any) {
		for k, v := range m {
			if nested, ok := v.(map[string]any); ok {
				walk(prefix+k+".", nested)
			} else {
				flat[prefix+k] = fmt.Sprintf("%v", v)
			}
		}
	}
	walk("", m)
	return flat
}

// applyPatch applies one JSON patch operation (RFC 6902, as skaffold profiles do).
func applyPatch(doc any, patch skaffoldPatch) (any, error) {
	op := patch.Op
	if op == "" {
		op = "replace"
	}
	var value any
	if len(patch.Value) > 0 {
		if err := json.Unmarshal(patch.Value, &value); err != nil {
			return doc, err
		}
	}
	switch op {
	case "add", "replace", "test":
		if op == "test" {
			_, err := pointerGet(doc, patch.Path)
			return doc, err
		}
		return pointerSet(doc, patch.Path, value, op == "add")
	case "remove":
		return pointerRemove(doc, patch.Path)
	case "copy", "move":
		v, err := pointerGet(doc, patch.From)
		if err != nil {
			return doc, err
		}
		if op == "move" {
			if doc, err = pointerRemove(doc, patch.From); err != nil {
				return doc, err
			}
		}
		return pointerSet(doc, patch.Path, v, true)
	default:
		return doc, fmt.Errorf("op %q is not a JSON patch operation", op)
	}
}

func pointerTokens(pointer string) ([]string, error) {
	if !strings.HasPrefix(pointer, "/") {
		return nil, fmt.Errorf("path %q must start with /", pointer)
	}
	tokens := strings.Split(pointer[1:], "/")
	for i, t := range tokens {
		tokens[i] = strings.ReplaceAll(strings.ReplaceAll(t, "~1", "/"), "~0", "~")
	}
	return tokens, nil
}

func pointerGet(doc any, pointer string) (any, error) {
	tokens, err := pointerTokens(pointer)
	if err != nil {
		return nil, err
	}
	cur := doc
	for _, t := range tokens {
		switch node := cur.(type) {
		case map[string]any:
			next, ok := node[t]
			if !ok {
				return nil, fmt.Errorf("path %s: %q does not exist", pointer, t)
			}
			cur = next
		case []any:
			i, err := strconv.Atoi(t)
			if err != nil || i < 0 || i >= len(node) {
				return nil, fmt.Errorf("path %s: no element %q", pointer, t)
			}
			cur = node[i]
		default:
			return nil, fmt.Errorf("path %s: %q is inside a scalar", pointer, t)
		}
	}
	return cur, nil
}

func pointerSet(doc any, pointer string, value any, add bool) (any, error) {
	tokens, err := pointerTokens(pointer)
	if err != nil {
		return doc, err
	}
	parentPointer := "/" + strings.Join(tokens[:len(tokens)-1], "/")
	var parent any = doc
	if len(tokens) > 1 {
		if parent, err = pointerGet(doc, parentPointer); err != nil {
			return doc, err
		}
	}
	last := tokens[len(tokens)-1]
	switch node := parent.(type) {
	case map[string]any:
		if _, ok := node[last]; !ok && !add {
			return doc, fmt.Errorf("path %s does not exist (replace needs it; add creates it)", pointer)
		}
		node[last] = value
		return doc, nil
	case []any:
		if add && last == "-" {
			return pointerSet(doc, parentPointer, append(node, value), false)
		}
		i, err := strconv.Atoi(last)
		if err != nil || i < 0 || i > len(node) || (!add && i == len(node)) {
			return doc, fmt.Errorf("path %s: no element %q", pointer, last)
		}
		if add {
			node = append(node[:i], append([]any{value}, node[i:]...)...)
			if len(tokens) == 1 {
				return node, nil
			}
			return pointerSet(doc, parentPointer, node, false)
		}
		node[i] = value
		return doc, nil
	default:
		return doc, fmt.Errorf("path %s: parent is not an object or array", pointer)
	}
}

func pointerRemove(doc any, pointer string) (any, error) {
	if _, err := pointerGet(doc, pointer); err != nil {
		return doc, err
	}
	tokens, _ := pointerTokens(pointer)
	parentPointer := "/" + strings.Join(tokens[:len(tokens)-1], "/")
	var parent any = doc
	if len(tokens) > 1 {
		parent, _ = pointerGet(doc, parentPointer)
	}
	last := tokens[len(tokens)-1]
	switch node := parent.(type) {
	case map[string]any:
		delete(node, last)
		return doc, nil
	case []any:
		i, _ := strconv.Atoi(last)
		return pointerSet(doc, parentPointer, append(node[:i:i], node[i+1:]...), false)
	}
	return doc, nil
}
