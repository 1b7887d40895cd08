package main

import (
	"encoding/json"
	"fmt"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	kjson "k8s.io/apimachinery/pkg/runtime/serializer/json"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// The API groups a chart of this project may render. An object of any other
// kind is an error: it cannot be validated, so it is not accepted.
func newScheme() *runtime.Scheme {
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		corev1.AddToScheme, appsv1.AddToScheme, batchv1.AddToScheme, policyv1.AddToScheme,
		networkingv1.AddToScheme, autoscalingv2.AddToScheme, rbacv1.AddToScheme, monitoringv1.AddToScheme,
	} {
		if err := add(scheme); err != nil {
			panic(err)
		}
	}
	return scheme
}

type typeMeta struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
}

// checkObjects decodes every document strictly into its typed API object and
// validates it; it returns the documents as JSON and the problems found.
func checkObjects(input []byte) ([]json.RawMessage, []string) {
	docs, err := yamlDocuments(input)
	if err != nil {
		return nil, []string{err.Error()}
	}
	scheme := newScheme()
	strict := kjson.NewSerializerWithOptions(kjson.DefaultMetaFactory, scheme, scheme, kjson.SerializerOptions{Strict: true})
	var problems []string
	seen := map[string]bool{}
	for index, doc := range docs {
		var meta typeMeta
		if err := json.Unmarshal(doc, &meta); err != nil {
			problems = append(problems, fmt.Sprintf("document %d: %v", index, err))
			continue
		}
		id := fmt.Sprintf("%s/%s", meta.Kind, meta.Metadata.Name)
		gv, err := schema.ParseGroupVersion(meta.APIVersion)
		if err != nil || meta.Kind == "" {
			problems = append(problems, fmt.Sprintf("document %d (%s): apiVersion and kind are required", index, id))
			continue
		}
		if !scheme.Recognizes(gv.WithKind(meta.Kind)) {
			problems = append(problems, fmt.Sprintf("%s: %s %s is not a known API type", id, meta.APIVersion, meta.Kind))
			continue
		}
		key := meta.APIVersion + "/" + id
		if seen[key] {
			problems = append(problems, fmt.Sprintf("%s: rendered twice", id))
		}
		seen[key] = true
		obj, _, err := strict.Decode(doc, nil, nil)
		if err != nil {
			// Strict decoding errors (unknown or duplicate fields) come with the object.
			problems = append(problems, fmt.Sprintf("%s: %v", id, err))
			if obj == nil || !runtime.IsStrictDecodingError(err) {
				continue
			}
		}
		for _, e := range validate(obj) {
			problems = append(problems, fmt.Sprintf("%s: %v", id, e))
		}
	}
	return docs, problems
}

// validate applies the API server's basic rules that a schema alone misses:
// names, label syntax, selectors matching templates, ports, probes, volumes.
func validate(obj runtime.Object) field.ErrorList {
	switch o := obj.(type) {
	case *appsv1.Deployment:
		errs := validateMeta(o.ObjectMeta, true)
		errs = append(errs, validateSelector(o.Spec.Selector, o.Spec.Template.Labels, field.NewPath("spec"))...)
		return append(errs, validatePodSpec(&o.Spec.Template.Spec, nil, field.NewPath("spec", "template", "spec"))...)
	case *appsv1.StatefulSet:
		errs := validateMeta(o.ObjectMeta, true)
		if o.Spec.ServiceName == "" {
			errs = append(errs, field.Required(field.NewPath("spec", "serviceName"), ""))
		}
		errs = append(errs, validateSelector(o.Spec.Selector, o.Spec.Template.Labels, field.NewPath("spec"))...)
		claims := map[string]bool{}
		for i, claim := range o.Spec.VolumeClaimTemplates {
			claims[claim.Name] = true
			errs = append(errs, validatePVCSpec(&claim.Spec, field.NewPath("spec", "volumeClaimTemplates").Index(i).Child("spec"))...)
		}
		return append(errs, validatePodSpec(&o.Spec.Template.Spec, claims, field.NewPath("spec", "template", "spec"))...)
	case *batchv1.Job:
		errs := validateMeta(o.ObjectMeta, true)
		path := field.NewPath("spec", "template", "spec")
		if p := o.Spec.Template.Spec.RestartPolicy; p != corev1.RestartPolicyNever && p != corev1.RestartPolicyOnFailure {
			errs = append(errs, field.NotSupported(path.Child("restartPolicy"), p, []string{"Never", "OnFailure"}))
		}
		return append(errs, validatePodSpec(&o.Spec.Template.Spec, nil, path)...)
	case *corev1.Service:
		return append(validateMeta(o.ObjectMeta, true), validateService(o)...)
	case *corev1.ConfigMap:
		errs := validateMeta(o.ObjectMeta, true)
		size := 0
		for key, value := range o.Data {
			errs = append(errs, validateKey(key, field.NewPath("data"))...)
			size += len(value)
		}
		for key, value := range o.BinaryData {
			errs = append(errs, validateKey(key, field.NewPath("binaryData"))...)
			size += len(value)
		}
		if size > 1024*1024 {
			errs = append(errs, field.TooLong(field.NewPath("data"), "", 1024*1024))
		}
		return errs
	case *corev1.Secret:
		errs := validateMeta(o.ObjectMeta, true)
		for key := range o.Data {
			errs = append(errs, validateKey(key, field.NewPath("data"))...)
		}
		for key := range o.StringData {
			errs = append(errs, validateKey(key, field.NewPath("stringData"))...)
		}
		return errs
	case *corev1.ServiceAccount:
		return validateMeta(o.ObjectMeta, true)
	case *corev1.PersistentVolumeClaim:
		return append(validateMeta(o.ObjectMeta, true), validatePVCSpec(&o.Spec, field.NewPath("spec"))...)
	case *policyv1.PodDisruptionBudget:
		errs := validateMeta(o.ObjectMeta, true)
		if (o.Spec.MinAvailable == nil) == (o.Spec.MaxUnavailable == nil) {
			errs = append(errs, field.Invalid(field.NewPath("spec"), "", "exactly one of minAvailable and maxUnavailable"))
		}
		if o.Spec.Selector == nil || (len(o.Spec.Selector.MatchLabels) == 0 && len(o.Spec.Selector.MatchExpressions) == 0) {
			errs = append(errs, field.Required(field.NewPath("spec", "selector"), "an empty selector selects every pod of the namespace"))
		}
		return errs
	case *autoscalingv2.HorizontalPodAutoscaler:
		return append(validateMeta(o.ObjectMeta, true), validateHPA(o)...)
	case *networkingv1.NetworkPolicy:
		return append(validateMeta(o.ObjectMeta, true), validateNetworkPolicy(o)...)
	case *networkingv1.Ingress:
		return append(validateMeta(o.ObjectMeta, true), validateIngress(o)...)
	case *monitoringv1.ServiceMonitor:
		errs := validateMeta(o.ObjectMeta, true)
		if len(o.Spec.Selector.MatchLabels) == 0 && len(o.Spec.Selector.MatchExpressions) == 0 {
			errs = append(errs, field.Required(field.NewPath("spec", "selector"), ""))
		}
		if len(o.Spec.Endpoints) == 0 {
			errs = append(errs, field.Required(field.NewPath("spec", "endpoints"), ""))
		}
		for i, endpoint := range o.Spec.Endpoints {
			if endpoint.Port == "" && endpoint.TargetPort == nil {
				errs = append(errs, field.Required(field.NewPath("spec", "endpoints").Index(i).Child("port"), ""))
			}
		}
		return errs
	default:
		if accessor, ok := obj.(interface{ GetName() string }); ok && accessor.GetName() == "" {
			return field.ErrorList{field.Required(field.NewPath("metadata", "name"), "")}
		}
		return nil
	}
}
