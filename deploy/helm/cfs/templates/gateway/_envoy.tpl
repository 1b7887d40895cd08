{{/* Whether the transcoder runs: a descriptor set was given. */}}
{{- define "cfs.gateway.transcoding" -}}
{{- if or .Values.gateway.descriptorSet.existingConfigMap .Values.gateway.descriptorSet.file -}}true{{- end -}}
{{- end -}}

{{/* An upstream cluster of cfs gRPC pods: every ready pod of the headless Service, HTTP/2. */}}
{{- define "cfs.gateway.grpcCluster" -}}
- name: {{ .component }}
  type: STRICT_DNS
  dns_lookup_family: V4_PREFERRED
  dns_refresh_rate: 5s
  lb_policy: ROUND_ROBIN
  connect_timeout: 2s
  typed_extension_protocol_options:
    envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
      "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
      explicit_http_config:
        http2_protocol_options:
          initial_stream_window_size: 4194304
          initial_connection_window_size: 8388608
  outlier_detection:
    consecutive_gateway_failure: 3
    base_ejection_time: 10s
  load_assignment:
    cluster_name: {{ .component }}
    endpoints:
      - lb_endpoints:
          - endpoint:
              address:
                socket_address:
                  address: {{ include "cfs.componentHost" . }}
                  port_value: {{ .port }}
{{- end -}}

{{- define "cfs.gateway.envoyConfig" -}}
{{- $g := .Values.gateway -}}
{{- $jwks := urlParse (include "cfs.auth.jwksUri" .) -}}
{{- $jwksHost := $jwks.host -}}
{{- $jwksPort := ternary 443 80 (eq $jwks.scheme "https") -}}
{{- if contains ":" $jwks.host -}}
{{- $jwksHost = first (splitList ":" $jwks.host) -}}
{{- $jwksPort = last (splitList ":" $jwks.host) -}}
{{- end -}}
{{- $routeTimeout := dict "timeout" "0s" "max_stream_duration" (dict "max_stream_duration" $g.streamTimeout "grpc_timeout_header_max" $g.streamTimeout) -}}
# Rendered by the cfs chart (deploy/helm/cfs/templates/gateway/_envoy.tpl).
admin:
  address:
    socket_address: {address: 127.0.0.1, port_value: {{ $g.adminPort }}}
static_resources:
  listeners:
    - name: gateway
      address:
        socket_address: {address: 0.0.0.0, port_value: {{ $g.port }}}
      filter_chains:
        - filters:
            - name: envoy.filters.network.http_connection_manager
              typed_config:
                "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
                stat_prefix: gateway
                codec_type: AUTO
                # No route may be skipped by an unusual spelling of its path.
                normalize_path: true
                merge_slashes: true
                path_with_escaped_slashes_action: REJECT_REQUEST
                http2_protocol_options:
                  initial_stream_window_size: 4194304
                  initial_connection_window_size: 8388608
                access_log:
                  - name: envoy.access_loggers.stdout
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog
                      log_format:
                        json_format:
                          time: "%START_TIME%"
                          method: "%REQ(:METHOD)%"
                          path: "%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%"
                          status: "%RESPONSE_CODE%"
                          grpc_status: "%GRPC_STATUS%"
                          duration_ms: "%DURATION%"
                          upstream: "%UPSTREAM_CLUSTER%"
                          request_id: "%REQ(X-REQUEST-ID)%"
                route_config:
                  name: cfs
                  virtual_hosts:
                    - name: cfs
                      domains: ["*"]
                      routes:
                        {{- range $g.blockedMethods }}
                        - match: {path: {{ . | quote }}}
                          direct_response: {status: 404}
                        {{- end }}
                        - match: {prefix: /cfs.chunker.v1.ChunkerService/}
                          route:
                            cluster: chunker
                            {{- toYaml $routeTimeout | nindent 28 }}
                        - match: {prefix: /cfs.metadata.v1.MetadataService/}
                          route:
                            cluster: metadata
                            {{- toYaml $routeTimeout | nindent 28 }}
                        - match: {prefix: /cfs.sync.v1.SyncService/}
                          route:
                            cluster: sync
                            {{- toYaml $routeTimeout | nindent 28 }}
                        {{- if .Values.web.enabled }}
                        - match: {prefix: /}
                          route: {cluster: web}
                        {{- else }}
                        - match: {prefix: /}
                          direct_response: {status: 404}
                        {{- end }}
                http_filters:
                  - name: envoy.filters.http.health_check
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.filters.http.health_check.v3.HealthCheck
                      pass_through_mode: false
                      headers:
                        - name: ":path"
                          string_match: {exact: /healthz}
                  - name: envoy.filters.http.jwt_authn
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication
                      providers:
                        cfs:
                          issuer: {{ include "cfs.auth.issuer" . | quote }}
                          audiences: [{{ include "cfs.auth.audience" . | quote }}]
                          require_expiration: true
                          clock_skew_seconds: 30
                          # The services verify the token again: pass it on.
                          forward: true
                          remote_jwks:
                            http_uri:
                              uri: {{ include "cfs.auth.jwksUri" . | quote }}
                              cluster: issuer
                              timeout: 5s
                            cache_duration: 600s
                      rules:
                        - match: {prefix: /cfs.}
                          requires: {provider_name: cfs}
                        - match: {prefix: /v1/}
                          requires: {provider_name: cfs}
                  {{- if include "cfs.gateway.transcoding" . }}
                  - name: envoy.filters.http.grpc_json_transcoder
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.filters.http.grpc_json_transcoder.v3.GrpcJsonTranscoder
                      proto_descriptor: /etc/envoy/descriptors/descriptor-set.binpb
                      services:
                        {{- toYaml $g.transcodedServices | nindent 24 }}
                      convert_grpc_status: true
                      print_options:
                        always_print_primitive_fields: true
                      request_validation_options:
                        reject_unknown_query_parameters: true
                  {{- end }}
                  - name: envoy.filters.http.router
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
    # Prometheus metrics from the admin interface, which itself stays on loopback.
    - name: metrics
      address:
        socket_address: {address: 0.0.0.0, port_value: {{ $g.metricsPort }}}
      filter_chains:
        - filters:
            - name: envoy.filters.network.http_connection_manager
              typed_config:
                "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
                stat_prefix: metrics
                route_config:
                  name: metrics
                  virtual_hosts:
                    - name: metrics
                      domains: ["*"]
                      routes:
                        - match: {path: /stats/prometheus}
                          route: {cluster: envoy_admin}
                        - match: {prefix: /}
                          direct_response: {status: 404}
                http_filters:
                  - name: envoy.filters.http.router
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
  clusters:
    {{- include "cfs.gateway.grpcCluster" (dict "root" . "component" "chunker" "port" .Values.chunker.port) | nindent 4 }}
    {{- include "cfs.gateway.grpcCluster" (dict "root" . "component" "metadata" "port" .Values.metadata.port) | nindent 4 }}
    {{- include "cfs.gateway.grpcCluster" (dict "root" . "component" "sync" "port" .Values.sync.port) | nindent 4 }}
    {{- if .Values.web.enabled }}
    - name: web
      type: STRICT_DNS
      dns_lookup_family: V4_PREFERRED
      lb_policy: ROUND_ROBIN
      connect_timeout: 2s
      load_assignment:
        cluster_name: web
        endpoints:
          - lb_endpoints:
              - endpoint:
                  address:
                    socket_address:
                      address: {{ include "cfs.componentHost" (dict "root" . "component" "web") }}
                      port_value: {{ .Values.web.port }}
    {{- end }}
    - name: issuer
      type: LOGICAL_DNS
      dns_lookup_family: V4_PREFERRED
      connect_timeout: 5s
      load_assignment:
        cluster_name: issuer
        endpoints:
          - lb_endpoints:
              - endpoint:
                  address:
                    socket_address: {address: {{ $jwksHost }}, port_value: {{ $jwksPort }}}
      {{- if eq $jwks.scheme "https" }}
      transport_socket:
        name: envoy.transport_sockets.tls
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext
          sni: {{ $jwksHost }}
          common_tls_context:
            validation_context:
              trusted_ca: {filename: /etc/ssl/certs/ca-certificates.crt}
      {{- end }}
    - name: envoy_admin
      type: STATIC
      connect_timeout: 1s
      load_assignment:
        cluster_name: envoy_admin
        endpoints:
          - lb_endpoints:
              - endpoint:
                  address:
                    socket_address: {address: 127.0.0.1, port_value: {{ $g.adminPort }}}
{{- end -}}
