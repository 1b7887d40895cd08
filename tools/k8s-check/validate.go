package main

import (
	"net/netip"
	"path"
	"strings"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func validateMeta(meta metav1.ObjectMeta, subdomain bool) field.ErrorList {
	nameFn := apivalidation.NameIsDNSSubdomain
	if !subdomain {
		nameFn = apivalidation.NameIsDNS1035Label
	}
	return apivalidation.ValidateObjectMeta(&meta, false, nameFn, field.NewPath("metadata"))
}

func validateKey(key string, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range validation.IsConfigMapKey(key) {
		errs = append(errs, field.Invalid(p.Key(key), key, msg))
	}
	return errs
}

// validateSelector: a workload's selector must be non-empty and select its own pod template.
func validateSelector(selector *metav1.LabelSelector, templateLabels map[string]string, p *field.Path) field.ErrorList {
	if selector == nil || (len(selector.MatchLabels) == 0 && len(selector.MatchExpressions) == 0) {
		return field.ErrorList{field.Required(p.Child("selector"), "")}
	}
	errs := metav1validation.ValidateLabelSelector(selector, metav1validation.LabelSelectorValidationOptions{}, p.Child("selector"))
	errs = append(errs, metav1validation.ValidateLabels(templateLabels, p.Child("template", "metadata", "labels"))...)
	parsed, err := metav1.LabelSelectorAsSelector(selector)
	if err != nil {
		return append(errs, field.Invalid(p.Child("selector"), selector, err.Error()))
	}
	if !parsed.Matches(labels.Set(templateLabels)) {
		errs = append(errs, field.Invalid(p.Child("template", "metadata", "labels"), templateLabels, "`selector` does not match template `labels`"))
	}
	return errs
}

func validatePortNumber(port int32, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range validation.IsValidPortNum(int(port)) {
		errs = append(errs, field.Invalid(p, port, msg))
	}
	return errs
}

func validateIntOrStringPort(port intstr.IntOrString, p *field.Path) field.ErrorList {
	if port.Type == intstr.Int {
		return validatePortNumber(port.IntVal, p)
	}
	var errs field.ErrorList
	for _, msg := range validation.IsValidPortName(port.StrVal) {
		errs = append(errs, field.Invalid(p, port.StrVal, msg))
	}
	return errs
}

// validatePodSpec checks containers, volumes and their references; claims
// are a StatefulSet's volumeClaimTemplates, which mounts may name too.
func validatePodSpec(spec *corev1.PodSpec, claims map[string]bool, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	volumes := map[string]bool{}
	for name := range claims {
		volumes[name] = true
	}
	for i, volume := range spec.Volumes {
		vp := p.Child("volumes").Index(i)
		for _, msg := range validation.IsDNS1123Label(volume.Name) {
			errs = append(errs, field.Invalid(vp.Child("name"), volume.Name, msg))
		}
		if volumes[volume.Name] {
			errs = append(errs, field.Duplicate(vp.Child("name"), volume.Name))
		}
		volumes[volume.Name] = true
		if n := countVolumeSources(volume.VolumeSource); n != 1 {
			errs = append(errs, field.Invalid(vp, volume.Name, "must have exactly one volume source"))
		}
	}
	if len(spec.Containers) == 0 {
		errs = append(errs, field.Required(p.Child("containers"), ""))
	}
	names := map[string]bool{}
	for i := range spec.InitContainers {
		errs = append(errs, validateContainer(&spec.InitContainers[i], volumes, names, true, p.Child("initContainers").Index(i))...)
	}
	for i := range spec.Containers {
		errs = append(errs, validateContainer(&spec.Containers[i], volumes, names, false, p.Child("containers").Index(i))...)
	}
	if g := spec.TerminationGracePeriodSeconds; g != nil && *g < 0 {
		errs = append(errs, field.Invalid(p.Child("terminationGracePeriodSeconds"), *g, "must be >= 0"))
	}
	for i, secret := range spec.ImagePullSecrets {
		if secret.Name == "" {
			errs = append(errs, field.Required(p.Child("imagePullSecrets").Index(i).Child("name"), ""))
		}
	}
	if sa := spec.ServiceAccountName; sa != "" {
		for _, msg := range validation.IsDNS1123Subdomain(sa) {
			errs = append(errs, field.Invalid(p.Child("serviceAccountName"), sa, msg))
		}
	}
	return errs
}

func countVolumeSources(source corev1.VolumeSource) int {
	n := 0
	for _, set := range []bool{
		source.EmptyDir != nil, source.ConfigMap != nil, source.Secret != nil, source.PersistentVolumeClaim != nil,
		source.Projected != nil, source.HostPath != nil, source.DownwardAPI != nil, source.Ephemeral != nil,
		source.CSI != nil, source.NFS != nil, source.Image != nil,
	} {
		if set {
			n++
		}
	}
	return n
}

func validateContainer(c *corev1.Container, volumes, names map[string]bool, init bool, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range validation.IsDNS1123Label(c.Name) {
		errs = append(errs, field.Invalid(p.Child("name"), c.Name, msg))
	}
	if names[c.Name] {
		errs = append(errs, field.Duplicate(p.Child("name"), c.Name))
	}
	names[c.Name] = true
	if strings.TrimSpace(c.Image) == "" || strings.ContainsAny(c.Image, " \t\n") {
		errs = append(errs, field.Invalid(p.Child("image"), c.Image, "must be a non-empty image reference without spaces"))
	}
	portNames := map[string]bool{}
	for i, port := range c.Ports {
		pp := p.Child("ports").Index(i)
		errs = append(errs, validatePortNumber(port.ContainerPort, pp.Child("containerPort"))...)
		if port.Name != "" {
			for _, msg := range validation.IsValidPortName(port.Name) {
				errs = append(errs, field.Invalid(pp.Child("name"), port.Name, msg))
			}
			if portNames[port.Name] {
				errs = append(errs, field.Duplicate(pp.Child("name"), port.Name))
			}
			portNames[port.Name] = true
		}
	}
	for i, env := range c.Env {
		ep := p.Child("env").Index(i)
		for _, msg := range validation.IsEnvVarName(env.Name) {
			errs = append(errs, field.Invalid(ep.Child("name"), env.Name, msg))
		}
		if env.ValueFrom != nil {
			if env.Value != "" {
				errs = append(errs, field.Invalid(ep, env.Name, "value and valueFrom are exclusive"))
			}
			sources := 0
			if ref := env.ValueFrom.SecretKeyRef; ref != nil {
				sources++
				if ref.Name == "" || ref.Key == "" {
					errs = append(errs, field.Required(ep.Child("valueFrom", "secretKeyRef"), "name and key"))
				}
			}
			if ref := env.ValueFrom.ConfigMapKeyRef; ref != nil {
				sources++
				if ref.Name == "" || ref.Key == "" {
					errs = append(errs, field.Required(ep.Child("valueFrom", "configMapKeyRef"), "name and key"))
				}
			}
			if env.ValueFrom.FieldRef != nil {
				sources++
			}
			if env.ValueFrom.ResourceFieldRef != nil {
				sources++
			}
			if sources != 1 {
				errs = append(errs, field.Invalid(ep.Child("valueFrom"), env.Name, "must have exactly one source"))
			}
		}
	}
	mounts := map[string]bool{}
	for i, mount := range c.VolumeMounts {
		mp := p.Child("volumeMounts").Index(i)
		if !volumes[mount.Name] {
			errs = append(errs, field.NotFound(mp.Child("name"), mount.Name))
		}
		if !path.IsAbs(mount.MountPath) {
			errs = append(errs, field.Invalid(mp.Child("mountPath"), mount.MountPath, "must be an absolute path"))
		}
		if mounts[mount.MountPath] {
			errs = append(errs, field.Duplicate(mp.Child("mountPath"), mount.MountPath))
		}
		mounts[mount.MountPath] = true
	}
	errs = append(errs, validateProbe(c.LivenessProbe, true, p.Child("livenessProbe"))...)
	errs = append(errs, validateProbe(c.ReadinessProbe, false, p.Child("readinessProbe"))...)
	errs = append(errs, validateProbe(c.StartupProbe, true, p.Child("startupProbe"))...)
	if init && (c.LivenessProbe != nil || c.ReadinessProbe != nil || c.StartupProbe != nil) && c.RestartPolicy == nil {
		errs = append(errs, field.Forbidden(p, "init containers may not have probes"))
	}
	if c.Lifecycle != nil {
		for name, handler := range map[string]*corev1.LifecycleHandler{"preStop": c.Lifecycle.PreStop, "postStart": c.Lifecycle.PostStart} {
			if handler == nil {
				continue
			}
			n := 0
			for _, set := range []bool{handler.Exec != nil, handler.HTTPGet != nil, handler.TCPSocket != nil, handler.Sleep != nil} {
				if set {
					n++
				}
			}
			if n != 1 {
				errs = append(errs, field.Invalid(p.Child("lifecycle", name), "", "must have exactly one handler"))
			}
			if handler.Sleep != nil && handler.Sleep.Seconds < 0 {
				errs = append(errs, field.Invalid(p.Child("lifecycle", name, "sleep", "seconds"), handler.Sleep.Seconds, "must be >= 0"))
			}
		}
	}
	for resource, limit := range c.Resources.Limits {
		if request, ok := c.Resources.Requests[resource]; ok && request.Cmp(limit) > 0 {
			errs = append(errs, field.Invalid(p.Child("resources", "requests").Key(string(resource)), request.String(), "must be less than or equal to the limit "+limit.String()))
		}
	}
	return errs
}

func validateProbe(probe *corev1.Probe, singleSuccess bool, p *field.Path) field.ErrorList {
	if probe == nil {
		return nil
	}
	var errs field.ErrorList
	n := 0
	if probe.Exec != nil {
		n++
		if len(probe.Exec.Command) == 0 {
			errs = append(errs, field.Required(p.Child("exec", "command"), ""))
		}
	}
	if probe.HTTPGet != nil {
		n++
		errs = append(errs, validateIntOrStringPort(probe.HTTPGet.Port, p.Child("httpGet", "port"))...)
	}
	if probe.TCPSocket != nil {
		n++
		errs = append(errs, validateIntOrStringPort(probe.TCPSocket.Port, p.Child("tcpSocket", "port"))...)
	}
	if probe.GRPC != nil {
		n++
		errs = append(errs, validatePortNumber(probe.GRPC.Port, p.Child("grpc", "port"))...)
	}
	if n != 1 {
		errs = append(errs, field.Invalid(p, "", "must have exactly one handler"))
	}
	for name, value := range map[string]int32{
		"initialDelaySeconds": probe.InitialDelaySeconds, "timeoutSeconds": probe.TimeoutSeconds, "periodSeconds": probe.PeriodSeconds,
		"successThreshold": probe.SuccessThreshold, "failureThreshold": probe.FailureThreshold,
	} {
		if value < 0 {
			errs = append(errs, field.Invalid(p.Child(name), value, "must be >= 0"))
		}
	}
	if singleSuccess && probe.SuccessThreshold > 1 {
		errs = append(errs, field.Invalid(p.Child("successThreshold"), probe.SuccessThreshold, "must be 1"))
	}
	return errs
}

func validatePVCSpec(spec *corev1.PersistentVolumeClaimSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(spec.AccessModes) == 0 {
		errs = append(errs, field.Required(p.Child("accessModes"), ""))
	}
	if storage, ok := spec.Resources.Requests[corev1.ResourceStorage]; !ok || storage.Sign() <= 0 {
		errs = append(errs, field.Required(p.Child("resources", "requests", "storage"), "a positive size"))
	}
	return errs
}

func validateService(s *corev1.Service) field.ErrorList {
	var errs field.ErrorList
	p := field.NewPath("spec")
	for _, msg := range validation.IsDNS1035Label(s.Name) {
		errs = append(errs, field.Invalid(field.NewPath("metadata", "name"), s.Name, msg))
	}
	switch s.Spec.Type {
	case "", corev1.ServiceTypeClusterIP, corev1.ServiceTypeNodePort, corev1.ServiceTypeLoadBalancer:
	default:
		errs = append(errs, field.NotSupported(p.Child("type"), s.Spec.Type, []string{"ClusterIP", "NodePort", "LoadBalancer"}))
	}
	if len(s.Spec.Ports) == 0 {
		errs = append(errs, field.Required(p.Child("ports"), ""))
	}
	names := map[string]bool{}
	for i, port := range s.Spec.Ports {
		pp := p.Child("ports").Index(i)
		if len(s.Spec.Ports) > 1 && port.Name == "" {
			errs = append(errs, field.Required(pp.Child("name"), "when there is more than one port"))
		}
		if port.Name != "" {
			for _, msg := range validation.IsDNS1123Label(port.Name) {
				errs = append(errs, field.Invalid(pp.Child("name"), port.Name, msg))
			}
			if names[port.Name] {
				errs = append(errs, field.Duplicate(pp.Child("name"), port.Name))
			}
			names[port.Name] = true
		}
		errs = append(errs, validatePortNumber(port.Port, pp.Child("port"))...)
		if port.TargetPort.Type == intstr.String || port.TargetPort.IntVal != 0 {
			errs = append(errs, validateIntOrStringPort(port.TargetPort, pp.Child("targetPort"))...)
		}
		if port.NodePort != 0 {
			if s.Spec.Type != corev1.ServiceTypeNodePort && s.Spec.Type != corev1.ServiceTypeLoadBalancer {
				errs = append(errs, field.Forbidden(pp.Child("nodePort"), "only NodePort and LoadBalancer services have node ports"))
			}
			// The default service-node-port-range.
			if port.NodePort < 30000 || port.NodePort > 32767 {
				errs = append(errs, field.Invalid(pp.Child("nodePort"), port.NodePort, "outside the default range 30000-32767"))
			}
		}
	}
	errs = append(errs, metav1validation.ValidateLabels(s.Spec.Selector, p.Child("selector"))...)
	return errs
}

func validateHPA(h *autoscalingv2.HorizontalPodAutoscaler) field.ErrorList {
	var errs field.ErrorList
	p := field.NewPath("spec")
	if h.Spec.MaxReplicas < 1 {
		errs = append(errs, field.Invalid(p.Child("maxReplicas"), h.Spec.MaxReplicas, "must be >= 1"))
	}
	if m := h.Spec.MinReplicas; m != nil && (*m < 1 || *m > h.Spec.MaxReplicas) {
		errs = append(errs, field.Invalid(p.Child("minReplicas"), *m, "must be between 1 and maxReplicas"))
	}
	if h.Spec.ScaleTargetRef.Kind == "" || h.Spec.ScaleTargetRef.Name == "" {
		errs = append(errs, field.Required(p.Child("scaleTargetRef"), "kind and name"))
	}
	for i, metric := range h.Spec.Metrics {
		mp := p.Child("metrics").Index(i)
		if metric.Type != autoscalingv2.ResourceMetricSourceType {
			continue
		}
		if metric.Resource == nil {
			errs = append(errs, field.Required(mp.Child("resource"), ""))
			continue
		}
		target := metric.Resource.Target
		switch target.Type {
		case autoscalingv2.UtilizationMetricType:
			if target.AverageUtilization == nil || *target.AverageUtilization < 1 {
				errs = append(errs, field.Required(mp.Child("resource", "target", "averageUtilization"), "a positive percentage"))
			}
		case autoscalingv2.AverageValueMetricType, autoscalingv2.ValueMetricType:
		default:
			errs = append(errs, field.NotSupported(mp.Child("resource", "target", "type"), target.Type, []string{"Utilization", "AverageValue", "Value"}))
		}
	}
	return errs
}

func validatePeers(peers []networkingv1.NetworkPolicyPeer, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, peer := range peers {
		pp := p.Index(i)
		if peer.IPBlock != nil {
			if peer.PodSelector != nil || peer.NamespaceSelector != nil {
				errs = append(errs, field.Forbidden(pp, "ipBlock excludes selectors"))
			}
			if _, err := netip.ParsePrefix(peer.IPBlock.CIDR); err != nil {
				errs = append(errs, field.Invalid(pp.Child("ipBlock", "cidr"), peer.IPBlock.CIDR, err.Error()))
			}
			for j, except := range peer.IPBlock.Except {
				if _, err := netip.ParsePrefix(except); err != nil {
					errs = append(errs, field.Invalid(pp.Child("ipBlock", "except").Index(j), except, err.Error()))
				}
			}
		} else if peer.PodSelector == nil && peer.NamespaceSelector == nil {
			errs = append(errs, field.Required(pp, "one of podSelector, namespaceSelector, ipBlock"))
		}
		errs = append(errs, metav1validation.ValidateLabelSelector(peer.PodSelector, metav1validation.LabelSelectorValidationOptions{}, pp.Child("podSelector"))...)
		errs = append(errs, metav1validation.ValidateLabelSelector(peer.NamespaceSelector, metav1validation.LabelSelectorValidationOptions{}, pp.Child("namespaceSelector"))...)
	}
	return errs
}

func validatePolicyPorts(ports []networkingv1.NetworkPolicyPort, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, port := range ports {
		if port.Port != nil {
			errs = append(errs, validateIntOrStringPort(*port.Port, p.Index(i).Child("port"))...)
		}
		if port.Protocol != nil {
			switch *port.Protocol {
			case corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolSCTP:
			default:
				errs = append(errs, field.NotSupported(p.Index(i).Child("protocol"), *port.Protocol, []string{"TCP", "UDP", "SCTP"}))
			}
		}
	}
	return errs
}

func validateNetworkPolicy(n *networkingv1.NetworkPolicy) field.ErrorList {
	p := field.NewPath("spec")
	errs := metav1validation.ValidateLabelSelector(&n.Spec.PodSelector, metav1validation.LabelSelectorValidationOptions{}, p.Child("podSelector"))
	for i, t := range n.Spec.PolicyTypes {
		if t != networkingv1.PolicyTypeIngress && t != networkingv1.PolicyTypeEgress {
			errs = append(errs, field.NotSupported(p.Child("policyTypes").Index(i), t, []string{"Ingress", "Egress"}))
		}
	}
	for i, rule := range n.Spec.Ingress {
		errs = append(errs, validatePeers(rule.From, p.Child("ingress").Index(i).Child("from"))...)
		errs = append(errs, validatePolicyPorts(rule.Ports, p.Child("ingress").Index(i).Child("ports"))...)
	}
	for i, rule := range n.Spec.Egress {
		errs = append(errs, validatePeers(rule.To, p.Child("egress").Index(i).Child("to"))...)
		errs = append(errs, validatePolicyPorts(rule.Ports, p.Child("egress").Index(i).Child("ports"))...)
	}
	return errs
}

func validateIngress(in *networkingv1.Ingress) field.ErrorList {
	var errs field.ErrorList
	p := field.NewPath("spec")
	validateBackend := func(b *networkingv1.IngressBackend, bp *field.Path) {
		if b.Service == nil || b.Service.Name == "" {
			errs = append(errs, field.Required(bp.Child("service", "name"), ""))
			return
		}
		if (b.Service.Port.Name == "") == (b.Service.Port.Number == 0) {
			errs = append(errs, field.Invalid(bp.Child("service", "port"), "", "exactly one of name and number"))
		}
	}
	if in.Spec.DefaultBackend != nil {
		validateBackend(in.Spec.DefaultBackend, p.Child("defaultBackend"))
	}
	for i, rule := range in.Spec.Rules {
		rp := p.Child("rules").Index(i)
		if rule.Host != "" {
			check := validation.IsDNS1123Subdomain
			if strings.HasPrefix(rule.Host, "*.") {
				check = validation.IsWildcardDNS1123Subdomain
			}
			for _, msg := range check(rule.Host) {
				errs = append(errs, field.Invalid(rp.Child("host"), rule.Host, msg))
			}
		}
		if rule.HTTP == nil {
			continue
		}
		for j, hp := range rule.HTTP.Paths {
			pp := rp.Child("http", "paths").Index(j)
			if !strings.HasPrefix(hp.Path, "/") {
				errs = append(errs, field.Invalid(pp.Child("path"), hp.Path, "must be an absolute path"))
			}
			if hp.PathType == nil {
				errs = append(errs, field.Required(pp.Child("pathType"), ""))
			} else if t := *hp.PathType; t != networkingv1.PathTypeExact && t != networkingv1.PathTypePrefix && t != networkingv1.PathTypeImplementationSpecific {
				errs = append(errs, field.NotSupported(pp.Child("pathType"), t, []string{"Exact", "Prefix", "ImplementationSpecific"}))
			}
			validateBackend(&hp.Backend, pp.Child("backend"))
		}
	}
	for i, tls := range in.Spec.TLS {
		for j, host := range tls.Hosts {
			check := validation.IsDNS1123Subdomain
			if strings.HasPrefix(host, "*.") {
				check = validation.IsWildcardDNS1123Subdomain
			}
			for _, msg := range check(host) {
				errs = append(errs, field.Invalid(p.Child("tls").Index(i).Child("hosts").Index(j), host, msg))
			}
		}
	}
	return errs
}
