package main

import (
	"fmt"
	"net/netip"

	bootstrap "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	jwt "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/jwt_authn/v3"
	router "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/types/known/anypb"
)

// references checks what Envoy rejects when it loads a config although every
// message on its own is valid: duplicate names, routes to clusters that do not
// exist (static route tables are checked against static clusters), the router
// not being the last HTTP filter, jwt_authn rules naming unknown providers,
// STATIC clusters with host names.
func references(b *bootstrap.Bootstrap, found []typed) []problem {
	var problems []problem
	fail := func(path, format string, args ...any) {
		problems = append(problems, problem{path, fmt.Sprintf(format, args...)})
	}
	clusters := map[string]bool{}
	for i, c := range b.GetStaticResources().GetClusters() {
		at := fmt.Sprintf("static_resources.clusters[%d]", i)
		if clusters[c.GetName()] {
			fail(at+".name", "duplicate cluster name %q", c.GetName())
		}
		clusters[c.GetName()] = true
		checkClusterAddresses(at, c, fail)
	}
	listeners := map[string]bool{}
	for i, l := range b.GetStaticResources().GetListeners() {
		if l.GetName() != "" && listeners[l.GetName()] {
			fail(fmt.Sprintf("static_resources.listeners[%d].name", i), "duplicate listener name %q", l.GetName())
		}
		listeners[l.GetName()] = true
	}
	for _, t := range found {
		switch m := t.msg.(type) {
		case *hcm.HttpConnectionManager:
			if rc := m.GetRouteConfig(); rc != nil && (rc.GetValidateClusters() == nil || rc.GetValidateClusters().GetValue()) {
				checkRoutes(t.path+".route_config", rc, clusters, fail)
			}
			filters := m.GetHttpFilters()
			for i, f := range filters {
				if isRouter(f.GetTypedConfig()) && i != len(filters)-1 {
					fail(fmt.Sprintf("%s.http_filters[%d]", t.path, i), "the router (%s) must be the last HTTP filter", f.GetName())
				}
			}
			if n := len(filters); n > 0 && !isRouter(filters[n-1].GetTypedConfig()) {
				fail(fmt.Sprintf("%s.http_filters[%d]", t.path, n-1), "the last HTTP filter must be the router; %s is not terminal", filters[n-1].GetName())
			}
		case *jwt.JwtAuthentication:
			for name, p := range m.GetProviders() {
				if c := p.GetRemoteJwks().GetHttpUri().GetCluster(); c != "" && !clusters[c] {
					fail(fmt.Sprintf("%s.providers[%s].remote_jwks.http_uri.cluster", t.path, name), "no cluster named %q", c)
				}
			}
			for i, r := range m.GetRules() {
				checkRequirement(fmt.Sprintf("%s.rules[%d].requires", t.path, i), r.GetRequires(), m.GetProviders(), fail)
			}
			for name, r := range m.GetRequirementMap() {
				checkRequirement(fmt.Sprintf("%s.requirement_map[%s]", t.path, name), r, m.GetProviders(), fail)
			}
		}
	}
	return problems
}

func isRouter(a *anypb.Any) bool {
	return a != nil && a.MessageIs(&router.Router{})
}

func checkRoutes(path string, rc *route.RouteConfiguration, clusters map[string]bool, fail func(string, string, ...any)) {
	for i, vh := range rc.GetVirtualHosts() {
		for j, r := range vh.GetRoutes() {
			at := fmt.Sprintf("%s.virtual_hosts[%d].routes[%d].route", path, i, j)
			if c := r.GetRoute().GetCluster(); c != "" && !clusters[c] {
				fail(at+".cluster", "no cluster named %q", c)
			}
			for k, w := range r.GetRoute().GetWeightedClusters().GetClusters() {
				if !clusters[w.GetName()] {
					fail(fmt.Sprintf("%s.weighted_clusters.clusters[%d].name", at, k), "no cluster named %q", w.GetName())
				}
			}
		}
	}
}

func checkRequirement(path string, r *jwt.JwtRequirement, providers map[string]*jwt.JwtProvider, fail func(string, string, ...any)) {
	if r == nil {
		return
	}
	if name := r.GetProviderName(); name != "" {
		if _, ok := providers[name]; !ok {
			fail(path+".provider_name", "no jwt provider named %q", name)
		}
	}
	for i, alt := range r.GetRequiresAny().GetRequirements() {
		checkRequirement(fmt.Sprintf("%s.requires_any.requirements[%d]", path, i), alt, providers, fail)
	}
	for i, all := range r.GetRequiresAll().GetRequirements() {
		checkRequirement(fmt.Sprintf("%s.requires_all.requirements[%d]", path, i), all, providers, fail)
	}
}

// checkClusterAddresses: a STATIC cluster needs IP addresses, a LOGICAL_DNS one exactly one endpoint.
func checkClusterAddresses(path string, c *cluster.Cluster, fail func(string, string, ...any)) {
	count := 0
	for i, group := range c.GetLoadAssignment().GetEndpoints() {
		for j, lb := range group.GetLbEndpoints() {
			count++
			address := lb.GetEndpoint().GetAddress().GetSocketAddress().GetAddress()
			if c.GetType() == cluster.Cluster_STATIC && address != "" {
				if _, err := netip.ParseAddr(address); err != nil {
					fail(fmt.Sprintf("%s.load_assignment.endpoints[%d].lb_endpoints[%d].endpoint.address.socket_address.address", path, i, j),
						"a STATIC cluster needs IP addresses, not %q (use STRICT_DNS or LOGICAL_DNS for names)", address)
				}
			}
		}
	}
	if c.GetType() == cluster.Cluster_LOGICAL_DNS && count != 1 {
		fail(path+".load_assignment", "a LOGICAL_DNS cluster has exactly one endpoint; got %d", count)
	}
}
