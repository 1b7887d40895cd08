{{/* Whether a descriptor set is mounted from a ConfigMap (given, or made from descriptorSet.file). */}}
{{- define "cfs.gateway.descriptorMounted" -}}
{{- if or .Values.gateway.descriptorSet.existingConfigMap .Values.gateway.descriptorSet.file -}}true{{- end -}}
{{- end -}}

{{/* Whether the transcoder runs: a descriptor set was given (mounted, or a path on Envoy's machine). */}}
{{- define "cfs.gateway.transcoding" -}}
{{- if or (include "cfs.gateway.descriptorMounted" .) .Values.gateway.descriptorSet.path -}}true{{- end -}}
{{- end -}}

{{/* Whether the OpenAPI document is mounted from the chart's ConfigMap. */}}
{{- define "cfs.gateway.openapiMounted" -}}
{{- if and .Values.gateway.openapi.enabled (not .Values.gateway.openapi.path) -}}true{{- end -}}
{{- end -}}

{{/* Where Envoy reads the OpenAPI document it answers /v1/openapi.json with. */}}
{{- define "cfs.gateway.openapiFile" -}}
{{- .Values.gateway.openapi.path | default "/etc/envoy/openapi/openapi.json" -}}
{{- end -}}

{{/* An upstream's host and port: gateway.upstreams.<component> ("host:port") or the component's Service. */}}
{{- define "cfs.gateway.upstream" -}}
{{- $override := index .root.Values.gateway.upstreams .component | default "" -}}
{{- if $override -}}
{{- $parts := splitList ":" $override -}}
{{- dict "host" (first $parts) "port" (last $parts | int) | toJson -}}
{{- else -}}
{{- dict "host" (include "cfs.componentHost" .) "port" .port | toJson -}}
{{- end -}}
{{- end -}}

{{/* An upstream cluster of cfs gRPC pods: every ready pod of the headless Service, HTTP/2. */}}
{{- define "cfs.gateway.grpcCluster" -}}
{{- $upstream := include "cfs.gateway.upstream" . | fromJson }}
- name: {{ .component }}
  # Every ready pod of the headless Service (DNS re-resolved every 5 s, Envoy's default).
  type: STRICT_DNS
  dns_lookup_family: V4_PREFERRED
  lb_policy: ROUND_ROBIN
  connect_timeout: 2s
  per_connection_buffer_limit_bytes: {{ .root.Values.gateway.limits.connectionBufferBytes | int64 }}
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
                  address: {{ $upstream.host }}
                  port_value: {{ $upstream.port | int }}
{{- end -}}

{{/*
The gRPC-JSON transcoder's config: the filter's, and (with convertGrpcStatus
false) the one REST HEADs are transcoded with.
*/}}
{{- define "cfs.gateway.transcoderConfig" -}}
{{- $g := .root.Values.gateway -}}
"@type": type.googleapis.com/envoy.extensions.filters.http.grpc_json_transcoder.v3.GrpcJsonTranscoder
proto_descriptor: {{ $g.descriptorSet.path | default "/etc/envoy/descriptors/descriptor-set.binpb" }}
services:
  {{- toYaml $g.transcodedServices | nindent 2 }}
convert_grpc_status: {{ .convertGrpcStatus }}
print_options:
  always_print_primitive_fields: true
# Unknown query parameters are a 400; unknown methods pass on
# (gRPC itself and the web page are not transcoded).
request_validation_options:
  reject_unknown_query_parameters: true
# Whole JSON bodies of unary calls are buffered up to these sizes.
# Raw-bytes uploads (client-streamed HttpBody) go on in pieces of
# about 1 MB and downloads (server-streamed HttpBody) frame by frame:
# neither is bounded by them.
max_request_body_size: {{ $g.limits.maxJsonRequestBytes | int64 }}
max_response_body_size: {{ $g.limits.maxJsonResponseBytes | int64 }}
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
{{- /* Methods returning stream google.api.HttpBody: downloads (tests/deploy/gateway-routes.test.ts keeps this in step with the protos). */ -}}
{{- $rawDownloads := list "/cfs.chunker.v1.ChunkerService/DownloadFileContent" -}}
# Rendered by the cfs chart (deploy/helm/cfs/templates/gateway/_envoy.tpl).
admin:
  address:
    socket_address: {address: 127.0.0.1, port_value: {{ $g.adminPort }}}
static_resources:
  listeners:
    - name: gateway
      address:
        socket_address: {address: {{ $g.listenAddress }}, port_value: {{ $g.port }}}
      per_connection_buffer_limit_bytes: {{ $g.limits.connectionBufferBytes | int64 }}
      filter_chains:
        - filters:
            - name: envoy.filters.network.http_connection_manager
              typed_config:
                "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
                stat_prefix: gateway
                codec_type: AUTO
                # Envoy is the edge: it appends the client's address to X-Forwarded-For,
                # which the WebDAV service's failed-login limits count by.
                use_remote_address: true
                # No route may be skipped by an unusual spelling of its path.
                normalize_path: true
                merge_slashes: true
                path_with_escaped_slashes_action: REJECT_REQUEST
                # Slow or stalled clients cannot hold connections: headers must arrive
                # within requestHeaders, and a stream with no bytes either way for
                # streamIdle ends (the change feed sends a heartbeat every 25 s).
                request_headers_timeout: {{ $g.timeouts.requestHeaders }}
                stream_idle_timeout: {{ $g.timeouts.streamIdle }}
                common_http_protocol_options:
                  headers_with_underscores_action: REJECT_REQUEST
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
                # Envoy's own answers (401 from jwt_authn, 400 from the transcoder, 404 for
                # blocked methods) in the JSON shape convert_grpc_status gives upstream errors.
                # gRPC clients are left alone: their errors travel in grpc-status.
                local_reply_config:
                  mappers:
                    {{- range $status, $code := dict "400" 3 "401" 16 "403" 7 "404" 5 "413" 8 "429" 8 "503" 14 "504" 4 }}
                    - filter:
                        and_filter:
                          filters:
                            - status_code_filter:
                                comparison: {op: EQ, value: {default_value: {{ $status }}, runtime_key: gateway.local_reply.{{ $status }}}}
                            - header_filter:
                                header:
                                  name: content-type
                                  string_match: {prefix: application/grpc}
                                  invert_match: true
                      body_format_override:
                        json_format:
                          code: {{ $code }}
                          message: "%LOCAL_REPLY_BODY%"
                    {{- end }}
                route_config:
                  name: cfs
                  # The OpenAPI document is a direct response (Envoy's default limit is 4 KiB).
                  max_direct_response_body_size_bytes: 1048576
                  virtual_hosts:
                    - name: cfs
                      domains: ["*"]
                      {{- with $g.cors.allowedOrigins }}
                      typed_per_filter_config:
                        envoy.filters.http.cors:
                          "@type": type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy
                          allow_origin_string_match:
                            {{- range . }}
                            - exact: {{ . | quote }}
                            {{- end }}
                          allow_methods: "GET, HEAD, POST, PUT, DELETE, OPTIONS"
                          allow_headers: "authorization, content-type, x-request-id"
                          expose_headers: "x-request-id, content-type, content-length, content-disposition, grpc-status, grpc-message"
                          max_age: "600"
                      {{- end }}
                      routes:
                        {{- if $g.openapi.enabled }}
                        - match: {path: /v1/openapi.json}
                          direct_response:
                            status: 200
                            body: {filename: {{ include "cfs.gateway.openapiFile" . | quote }}}
                          response_headers_to_add:
                            - header: {key: content-type, value: application/json}
                              append_action: OVERWRITE_IF_EXISTS_OR_ADD
                        {{- end }}
                        {{- if include "cfs.gateway.transcoding" . }}
                        # A REST HEAD (downloads have a HEAD binding) is transcoded with this
                        # route's transcoder config, which leaves gRPC errors as the status and
                        # grpc-message: the JSON body convert_grpc_status adds must not follow a
                        # HEAD's headers. The transcoded call is routed below; a HEAD that no
                        # binding names stays here, 405.
                        - match:
                            prefix: /v1/
                            headers:
                              - name: ":method"
                                string_match: {exact: HEAD}
                          direct_response: {status: 405}
                          typed_per_filter_config:
                            envoy.filters.http.grpc_json_transcoder:
                              {{- include "cfs.gateway.transcoderConfig" (dict "root" . "convertGrpcStatus" false) | nindent 30 }}
                        {{- end }}
                        {{- range $g.blockedMethods }}
                        - match: {path: {{ . | quote }}}
                          direct_response: {status: 404}
                        {{- end }}
                        {{- range $rawDownloads }}
                        # A transcoded REST download (the transcoder sets x-envoy-original-path;
                        # gRPC calls have none, and must not get a Content-Length for their
                        # framed body): its length, sent by the chunker as x-cfs-content-length
                        # (gRPC keeps content-length for itself), becomes Content-Length. When
                        # the transcoder answers an error instead it sets its own.
                        - match:
                            path: {{ . | quote }}
                            headers:
                              - name: x-envoy-original-path
                                present_match: true
                          route:
                            cluster: chunker
                            {{- toYaml $routeTimeout | nindent 28 }}
                          response_headers_to_add:
                            - header: {key: content-length, value: "%RESP(x-cfs-content-length)%"}
                              append_action: ADD_IF_ABSENT
                        {{- end }}
                        - match: {prefix: /cfs.chunker.v1.ChunkerService/}
                          route:
                            cluster: chunker
                            {{- toYaml $routeTimeout | nindent 28 }}
                        - match: {prefix: /cfs.metadata.v1.MetadataService/}
                          route:
                            cluster: metadata
                            {{- toYaml $routeTimeout | nindent 28 }}
                        - match: {prefix: /cfs.metadata.v1.AppPasswordService/}
                          route:
                            cluster: metadata
                            {{- toYaml $routeTimeout | nindent 28 }}
                        - match: {prefix: /cfs.sync.v1.SyncService/}
                          route:
                            cluster: sync
                            {{- toYaml $routeTimeout | nindent 28 }}
                        # Any other cfs service (block storage) is never reachable from outside.
                        - match: {prefix: /cfs.}
                          direct_response: {status: 404}
                        {{- if .Values.webdav.enabled }}
                        # WebDAV: the WebDAV service authenticates (Basic with an app password, or a JWT).
                        - match: {path: /dav}
                          route:
                            cluster: webdav
                            {{- toYaml $routeTimeout | nindent 28 }}
                        - match: {prefix: /dav/}
                          route:
                            cluster: webdav
                            {{- toYaml $routeTimeout | nindent 28 }}
                        {{- end }}
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
                  {{- if $g.cors.allowedOrigins }}
                  # Answers preflights (which carry no token) for the page's origins only.
                  - name: envoy.filters.http.cors
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors
                  {{- end }}
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
                        {{- if $g.openapi.enabled }}
                        # The API's description, not the API: no token (tools read it first).
                        - match: {path: /v1/openapi.json}
                        {{- end }}
                        - match: {prefix: /cfs.}
                          requires: {provider_name: cfs}
                        - match: {prefix: /v1/}
                          requires: {provider_name: cfs}
                  {{- if include "cfs.gateway.transcoding" . }}
                  - name: envoy.filters.http.grpc_json_transcoder
                    typed_config:
                      {{- include "cfs.gateway.transcoderConfig" (dict "root" . "convertGrpcStatus" true) | nindent 22 }}
                  {{- end }}
                  - name: envoy.filters.http.router
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
    # Prometheus metrics from the admin interface, which itself stays on loopback.
    - name: metrics
      address:
        socket_address: {address: {{ $g.listenAddress }}, port_value: {{ $g.metricsPort }}}
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
    {{- $web := include "cfs.gateway.upstream" (dict "root" . "component" "web" "port" .Values.web.port) | fromJson }}
    - name: web
      type: STRICT_DNS
      dns_lookup_family: V4_PREFERRED
      lb_policy: ROUND_ROBIN
      connect_timeout: 2s
      per_connection_buffer_limit_bytes: {{ $g.limits.connectionBufferBytes | int64 }}
      load_assignment:
        cluster_name: web
        endpoints:
          - lb_endpoints:
              - endpoint:
                  address:
                    socket_address:
                      address: {{ $web.host }}
                      port_value: {{ $web.port | int }}
    {{- end }}
    {{- if .Values.webdav.enabled }}
    {{- $webdav := include "cfs.gateway.upstream" (dict "root" . "component" "webdav" "port" .Values.webdav.port) | fromJson }}
    # HTTP/1.1, as WebDAV clients speak it.
    - name: webdav
      type: STRICT_DNS
      dns_lookup_family: V4_PREFERRED
      lb_policy: ROUND_ROBIN
      connect_timeout: 2s
      per_connection_buffer_limit_bytes: {{ $g.limits.connectionBufferBytes | int64 }}
      load_assignment:
        cluster_name: webdav
        endpoints:
          - lb_endpoints:
              - endpoint:
                  address:
                    socket_address:
                      address: {{ $webdav.host }}
                      port_value: {{ $webdav.port | int }}
    {{- end }}
    - name: issuer
      type: LOGICAL_DNS
      dns_lookup_family: V4_PREFERRED
      connect_timeout: 5s
      per_connection_buffer_limit_bytes: {{ $g.limits.connectionBufferBytes | int64 }}
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
