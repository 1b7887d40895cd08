{{/* ---------------------------------------------------------------- names */}}

{{- define "cfs.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* <release>-cfs, or the release name when it already contains the chart name. */}}
{{- define "cfs.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Name of a component's resources: dict "root" $ "component" "chunker". */}}
{{- define "cfs.componentName" -}}
{{- printf "%s-%s" (include "cfs.fullname" .root) .component | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* A component's Service as a fully qualified DNS name. */}}
{{- define "cfs.componentHost" -}}
{{- printf "%s.%s.svc.%s" (include "cfs.componentName" .) .root.Release.Namespace .root.Values.clusterDomain -}}
{{- end -}}

{{/* A peer's gRPC address: dns:/// so that clients see every ready pod of the headless Service. */}}
{{- define "cfs.peerAddress" -}}
{{- $port := index .root.Values .key "port" -}}
{{- printf "dns:///%s:%v" (include "cfs.componentHost" .) $port -}}
{{- end -}}

{{- define "cfs.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "cfs.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* --------------------------------------------------------------- labels */}}

{{- define "cfs.selectorLabels" -}}
app.kubernetes.io/name: {{ include "cfs.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "cfs.labels" -}}
{{ include "cfs.selectorLabels" . }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: cfs
{{- end -}}

{{/* --------------------------------------------------------------- images */}}

{{/* dict "root" $ "image" .Values.x.image: cfs images get the shared registry and tag. */}}
{{- define "cfs.image" -}}
{{- $registry := .root.Values.image.registry -}}
{{- $tag := .image.tag | default .root.Values.image.tag | default .root.Chart.AppVersion -}}
{{- if $registry -}}
{{- printf "%s/%s:%s" (trimSuffix "/" $registry) .image.repository $tag -}}
{{- else -}}
{{- printf "%s:%s" .image.repository $tag -}}
{{- end -}}
{{- end -}}

{{/* Images of other projects (Envoy, PostgreSQL, MinIO): as named, with their own tag. */}}
{{- define "cfs.thirdPartyImage" -}}
{{- printf "%s:%s" .repository .tag -}}
{{- end -}}

{{/* ----------------------------------------------------------------- auth */}}

{{- define "cfs.auth.issuer" -}}
{{- if .Values.devIssuer.enabled -}}
{{- if .Values.auth.issuer -}}
{{- fail "auth.issuer is set and devIssuer.enabled is true: turn the dev issuer off (devIssuer.enabled=false) to use your issuer" -}}
{{- end -}}
{{- .Values.devIssuer.issuerUrl -}}
{{- else -}}
{{- required "auth.issuer is required (e.g. https://<tenant>.auth0.com/) unless devIssuer.enabled" .Values.auth.issuer -}}
{{- end -}}
{{- end -}}

{{- define "cfs.auth.audience" -}}
{{- if .Values.devIssuer.enabled -}}
{{- .Values.auth.audience | default "https://cfs.local/api" -}}
{{- else -}}
{{- required "auth.audience is required (the API identifier) unless devIssuer.enabled" .Values.auth.audience -}}
{{- end -}}
{{- end -}}

{{/* The dev issuer's HTTP base, reached by in-cluster name. */}}
{{- define "cfs.devIssuer.baseUrl" -}}
{{- printf "http://%s:%v/" (include "cfs.componentHost" (dict "root" . "component" "dev-issuer")) .Values.devIssuer.port -}}
{{- end -}}

{{- define "cfs.auth.jwksUri" -}}
{{- if .Values.auth.jwksUri -}}
{{- .Values.auth.jwksUri -}}
{{- else if .Values.devIssuer.enabled -}}
{{- printf "%s.well-known/jwks.json" (include "cfs.devIssuer.baseUrl" .) -}}
{{- else -}}
{{- printf "%s/.well-known/jwks.json" (include "cfs.auth.issuer" . | trimSuffix "/") -}}
{{- end -}}
{{- end -}}

{{- define "cfs.auth.tokenUrl" -}}
{{- if .Values.auth.serviceClient.tokenUrl -}}
{{- .Values.auth.serviceClient.tokenUrl -}}
{{- else if .Values.devIssuer.enabled -}}
{{- printf "%soauth/token" (include "cfs.devIssuer.baseUrl" .) -}}
{{- else -}}
{{- printf "%s/oauth/token" (include "cfs.auth.issuer" . | trimSuffix "/") -}}
{{- end -}}
{{- end -}}

{{- define "cfs.auth.serviceClientSecret" -}}
{{- if .Values.auth.serviceClient.existingSecret -}}
{{- .Values.auth.serviceClient.existingSecret -}}
{{- else if .Values.devIssuer.enabled -}}
{{- include "cfs.componentName" (dict "root" . "component" "dev-issuer") -}}
{{- else -}}
{{- fail "auth.serviceClient.existingSecret is required unless devIssuer.enabled: a Secret with the service identity's client id and secret" -}}
{{- end -}}
{{- end -}}

{{/* ------------------------------------------------------------- database */}}

{{- define "cfs.database.secretName" -}}
{{- if .Values.postgresql.enabled -}}
{{- .Values.postgresql.existingSecret | default (include "cfs.componentName" (dict "root" . "component" "postgresql")) -}}
{{- else -}}
{{- required "externalDatabase.existingSecret is required when postgresql.enabled=false" .Values.externalDatabase.existingSecret -}}
{{- end -}}
{{- end -}}

{{/*
CFS_DATABASE_URL (and CFS_DATABASE_PASSWORD it is composed from): metadata's database, and the one
block storage keeps its pack index in, as $(CFS_DATABASE_URL).
*/}}
{{- define "cfs.database.urlEnv" -}}
{{- if and (not .Values.postgresql.enabled) .Values.externalDatabase.urlKey }}
- name: CFS_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "cfs.database.secretName" . }}
      key: {{ .Values.externalDatabase.urlKey }}
{{- else }}
{{- $db := .Values.externalDatabase -}}
{{- $host := $db.host -}}
{{- $port := $db.port -}}
{{- $key := $db.passwordKey -}}
{{- $name := $db.database -}}
{{- $user := $db.username -}}
{{- $params := $db.params -}}
{{- if .Values.postgresql.enabled -}}
{{- $host = include "cfs.componentHost" (dict "root" . "component" "postgresql") -}}
{{- $port = 5432 -}}
{{- $key = .Values.postgresql.passwordKey -}}
{{- $name = .Values.postgresql.database -}}
{{- $user = .Values.postgresql.username -}}
{{- $params = "" -}}
{{- else if not $host -}}
{{- fail "externalDatabase.host (or externalDatabase.urlKey) is required when postgresql.enabled=false" -}}
{{- end }}
- name: CFS_DATABASE_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "cfs.database.secretName" . }}
      key: {{ $key }}
- name: CFS_DATABASE_URL
  value: {{ printf "postgres://%s:$(CFS_DATABASE_PASSWORD)@%s:%v/%s%s" $user $host $port $name (ternary (printf "?%s" $params) "" (ne $params "")) | quote }}
{{- end }}
{{- end -}}

{{/* The metadata container's database environment: the URL, its pool and prepared statements. */}}
{{- define "cfs.database.env" -}}
{{- include "cfs.database.urlEnv" . }}
- name: CFS_DATABASE_POOL_MAX
  value: {{ .Values.databasePoolMax | quote }}
{{ include "cfs.database.preparedEnv" . }}
{{- end -}}

{{/* Whether statements are prepared (metadata, and block storage's pack index in the same database). */}}
{{- define "cfs.database.preparedEnv" -}}
- name: CFS_DATABASE_PREPARED_STATEMENTS
  value: {{ .Values.databasePreparedStatements | quote }}
{{- end -}}

{{/* ----------------------------------------------------------- object store */}}

{{- define "cfs.s3.env" -}}
{{- if .Values.minio.enabled }}
{{- $secret := .Values.minio.existingSecret | default (include "cfs.componentName" (dict "root" . "component" "minio")) }}
- name: CFS_S3_ENDPOINT
  value: {{ printf "http://%s:9000" (include "cfs.componentHost" (dict "root" . "component" "minio")) | quote }}
- name: CFS_S3_BUCKET
  value: {{ .Values.minio.bucket | quote }}
- name: CFS_S3_ACCESS_KEY
  valueFrom:
    secretKeyRef: {name: {{ $secret }}, key: root-user}
- name: CFS_S3_SECRET_KEY
  valueFrom:
    secretKeyRef: {name: {{ $secret }}, key: root-password}
{{- else }}
{{- $s3 := .Values.externalS3 }}
- name: CFS_S3_ENDPOINT
  value: {{ required "externalS3.endpoint is required when minio.enabled=false (chunks kept on a pod's disk would be lost)" $s3.endpoint | quote }}
- name: CFS_S3_BUCKET
  value: {{ $s3.bucket | quote }}
- name: CFS_S3_REGION
  value: {{ $s3.region | quote }}
- name: CFS_S3_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ required "externalS3.existingSecret is required when minio.enabled=false" $s3.existingSecret }}
      key: {{ $s3.accessKeyKey }}
- name: CFS_S3_SECRET_KEY
  valueFrom:
    secretKeyRef:
      name: {{ $s3.existingSecret }}
      key: {{ $s3.secretKeyKey }}
{{- end }}
{{- end -}}

{{/* --------------------------------------------------------- cfs services */}}

{{/* Environment every cfs service reads (lib/service.ts, lib/auth.ts). dict "root" "values". */}}
{{- define "cfs.service.commonEnv" -}}
{{- $root := .root -}}
- name: CFS_HOST
  value: "0.0.0.0"
- name: CFS_PORT
  value: {{ .values.port | quote }}
- name: CFS_METRICS_PORT
  value: {{ .values.metricsPort | quote }}
- name: CFS_LOG_LEVEL
  value: {{ $root.Values.service.logLevel | quote }}
- name: CFS_SHUTDOWN_GRACE_MS
  value: {{ mul $root.Values.service.shutdownGraceSeconds 1000 | quote }}
- name: CFS_DATA_DIR
  value: /tmp/cfs
- name: CFS_AUTH_ISSUER
  value: {{ include "cfs.auth.issuer" $root | quote }}
- name: CFS_AUTH_AUDIENCE
  value: {{ include "cfs.auth.audience" $root | quote }}
- name: CFS_AUTH_JWKS_URI
  value: {{ include "cfs.auth.jwksUri" $root | quote }}
- name: CFS_AUTH_SERVICE_SCOPE
  value: {{ $root.Values.auth.serviceScope | quote }}
# App-password sessions: tokens of the metadata service's app-token issuer.
- name: CFS_APP_TOKEN_JWKS_URI
  value: {{ printf "http://%s:%v/.well-known/jwks.json" (include "cfs.componentHost" (dict "root" $root "component" "metadata")) $root.Values.metadata.appTokens.jwksPort | quote }}
{{- with $root.Values.auth.algorithms }}
- name: CFS_AUTH_ALGORITHMS
  value: {{ . | quote }}
{{- end }}
{{- end -}}

{{/* The service identity (client credentials) of metadata and sync. */}}
{{- define "cfs.service.identityEnv" -}}
- name: CFS_SERVICE_CLIENT_ID
  valueFrom:
    secretKeyRef:
      name: {{ include "cfs.auth.serviceClientSecret" . }}
      key: {{ .Values.auth.serviceClient.clientIdKey }}
- name: CFS_SERVICE_CLIENT_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ include "cfs.auth.serviceClientSecret" . }}
      key: {{ .Values.auth.serviceClient.clientSecretKey }}
- name: CFS_SERVICE_TOKEN_URL
  value: {{ include "cfs.auth.tokenUrl" . | quote }}
{{- end -}}

{{- define "cfs.podSecurityContext" -}}
{{ toYaml .Values.podSecurityContext }}
{{- end -}}

{{- define "cfs.containerSecurityContext" -}}
{{ toYaml .Values.containerSecurityContext }}
{{- end -}}

{{/* Seconds Kubernetes waits after the preStop hook began: the sleep, the drain, and a margin. */}}
{{- define "cfs.terminationGracePeriod" -}}
{{- add .Values.service.preStopSleepSeconds .Values.service.shutdownGraceSeconds 10 -}}
{{- end -}}

{{- define "cfs.metricsAnnotations" -}}
{{- if .root.Values.metrics.podAnnotations }}
prometheus.io/scrape: "true"
prometheus.io/port: {{ .port | quote }}
prometheus.io/path: {{ .path | default "/metrics" | quote }}
{{- end }}
{{- end -}}

{{/*
The pod template of a cfs gRPC service. dict:
  root, component (chunker...), values (.Values.chunker), env (YAML list, extra),
  volumes / volumeMounts (YAML lists, extra), checksum (string mixed into an annotation).
*/}}
{{- define "cfs.service.podTemplate" -}}
{{- $root := .root -}}
{{- $v := .values -}}
{{- $probes := $root.Values.service.probes -}}
metadata:
  labels:
    {{- include "cfs.labels" (dict "root" $root "component" .component) | nindent 4 }}
  annotations:
    {{- include "cfs.metricsAnnotations" (dict "root" $root "port" $v.metricsPort) | trim | nindent 4 }}
    {{- with $v.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  serviceAccountName: {{ include "cfs.serviceAccountName" $root }}
  automountServiceAccountToken: false
  enableServiceLinks: false
  terminationGracePeriodSeconds: {{ include "cfs.terminationGracePeriod" $root }}
  securityContext:
    {{- include "cfs.podSecurityContext" $root | nindent 4 }}
  {{- with $root.Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  containers:
    - name: {{ .component }}
      image: {{ include "cfs.image" (dict "root" $root "image" $v.image) }}
      imagePullPolicy: {{ $root.Values.image.pullPolicy }}
      ports:
        - name: {{ ternary "http" "grpc" (default false .http) }}
          containerPort: {{ $v.port }}
        - name: metrics
          containerPort: {{ $v.metricsPort }}
        {{- range .extraPorts }}
        - name: {{ .name }}
          containerPort: {{ .port }}
        {{- end }}
      env:
        {{- include "cfs.service.commonEnv" (dict "root" $root "values" $v) | nindent 8 }}
        {{- with .env }}
        {{- . | trim | nindent 8 }}
        {{- end }}
        {{- with $root.Values.service.extraEnv }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
        {{- with $v.extraEnv }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- if .http }}
      # An HTTP service: /readyz checks its peers, /healthz only that it serves.
      startupProbe:
        httpGet: {path: /healthz, port: http}
        {{- toYaml $probes.startup | nindent 8 }}
      readinessProbe:
        httpGet: {path: /readyz, port: http}
        {{- toYaml $probes.readiness | nindent 8 }}
      livenessProbe:
        httpGet: {path: /healthz, port: http}
        {{- toYaml $probes.liveness | nindent 8 }}
      {{- else }}
      startupProbe:
        grpc: {port: {{ $v.port }}, service: ""}
        {{- toYaml $probes.startup | nindent 8 }}
      readinessProbe:
        grpc: {port: {{ $v.port }}, service: ""}
        {{- toYaml $probes.readiness | nindent 8 }}
      livenessProbe:
        grpc: {port: {{ $v.port }}, service: {{ $root.Values.service.livenessProbeService | quote }}}
        {{- toYaml $probes.liveness | nindent 8 }}
      {{- end }}
      lifecycle:
        preStop:
          sleep: {seconds: {{ $root.Values.service.preStopSleepSeconds }}}
      resources:
        {{- toYaml $v.resources | nindent 8 }}
      securityContext:
        {{- include "cfs.containerSecurityContext" $root | nindent 8 }}
      volumeMounts:
        - name: tmp
          mountPath: /tmp
        {{- with .volumeMounts }}
        {{- . | trim | nindent 8 }}
        {{- end }}
  volumes:
    - name: tmp
      emptyDir: {sizeLimit: 256Mi}
    {{- with .volumes }}
    {{- . | trim | nindent 4 }}
    {{- end }}
  {{- with $v.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $v.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $v.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $v.topologySpreadConstraints }}
  topologySpreadConstraints:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end -}}

{{/* A stateless cfs service: Deployment. dict as for cfs.service.podTemplate. */}}
{{- define "cfs.service.deployment" -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "cfs.componentName" . }}
  labels:
    {{- include "cfs.labels" . | nindent 4 }}
spec:
  {{- if not .values.autoscaling.enabled }}
  replicas: {{ .values.replicaCount }}
  {{- end }}
  revisionHistoryLimit: 5
  strategy:
    type: RollingUpdate
    rollingUpdate: {maxSurge: 1, maxUnavailable: 0}
  selector:
    matchLabels:
      {{- include "cfs.selectorLabels" . | nindent 6 }}
  template:
    {{- include "cfs.service.podTemplate" . | nindent 4 }}
{{- end -}}

{{/*
A cfs service's Service: headless, so that gRPC clients (dns:///) and the gateway see every
ready pod and balance per call, not per long-lived connection.
*/}}
{{- define "cfs.service.service" -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "cfs.componentName" . }}
  labels:
    {{- include "cfs.labels" . | nindent 4 }}
spec:
  clusterIP: None
  selector:
    {{- include "cfs.selectorLabels" . | nindent 4 }}
  ports:
    {{- if .http }}
    - name: http
      port: {{ .values.port }}
      targetPort: http
    {{- else }}
    - name: grpc
      port: {{ .values.port }}
      targetPort: grpc
      appProtocol: kubernetes.io/h2c
    {{- end }}
    - name: metrics
      port: {{ .values.metricsPort }}
      targetPort: metrics
    {{- range .extraPorts }}
    - name: {{ .name }}
      port: {{ .port }}
      targetPort: {{ .name }}
    {{- end }}
{{- end -}}

{{- define "cfs.hpa" -}}
{{- if .values.autoscaling.enabled }}
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ include "cfs.componentName" . }}
  labels:
    {{- include "cfs.labels" . | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ include "cfs.componentName" . }}
  minReplicas: {{ .values.autoscaling.minReplicas }}
  maxReplicas: {{ .values.autoscaling.maxReplicas }}
  metrics:
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ .values.autoscaling.targetCPUUtilizationPercentage }}
    {{- with .values.autoscaling.targetMemoryUtilizationPercentage }}
    - type: Resource
      resource:
        name: memory
        target:
          type: Utilization
          averageUtilization: {{ . }}
    {{- end }}
{{- end }}
{{- end -}}

{{- define "cfs.pdb" -}}
{{- if .values.pdb.enabled }}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "cfs.componentName" . }}
  labels:
    {{- include "cfs.labels" . | nindent 4 }}
spec:
  maxUnavailable: {{ .values.pdb.maxUnavailable }}
  selector:
    matchLabels:
      {{- include "cfs.selectorLabels" . | nindent 6 }}
{{- end }}
{{- end -}}

{{- define "cfs.serviceMonitor" -}}
{{- $sm := .root.Values.metrics.serviceMonitor -}}
{{- if $sm.enabled }}
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata:
  name: {{ include "cfs.componentName" . }}
  labels:
    {{- include "cfs.labels" . | nindent 4 }}
    {{- with $sm.labels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  selector:
    matchLabels:
      {{- include "cfs.selectorLabels" . | nindent 6 }}
  endpoints:
    - port: metrics
      path: {{ .path | default "/metrics" }}
      interval: {{ $sm.interval }}
      scrapeTimeout: {{ $sm.scrapeTimeout }}
{{- end }}
{{- end -}}

{{/* ------------------------------------------------------- network policy */}}

{{/* A peer that is a component of this release. */}}
{{- define "cfs.np.peer" -}}
- podSelector:
    matchLabels:
      {{- include "cfs.selectorLabels" . | nindent 6 }}
{{- end -}}

{{/* Egress every pod needs: cluster DNS. */}}
{{- define "cfs.np.dnsEgress" -}}
- to:
    {{- toYaml .Values.networkPolicy.dnsTo | nindent 4 }}
  ports:
    - {protocol: UDP, port: 53}
    - {protocol: TCP, port: 53}
{{- end -}}

{{/* Egress to the token issuer (JWKS and token endpoint): the dev issuer's pod, or outside. */}}
{{- define "cfs.np.issuerEgress" -}}
{{- if .Values.devIssuer.enabled }}
- to:
    {{- include "cfs.np.peer" (dict "root" . "component" "dev-issuer") | nindent 4 }}
  ports:
    - {protocol: TCP, port: {{ .Values.devIssuer.port }}}
{{- else }}
- to:
    {{- toYaml .Values.networkPolicy.issuerTo | nindent 4 }}
  ports:
    {{- range .Values.networkPolicy.issuerPorts }}
    - {protocol: TCP, port: {{ . }}}
    {{- end }}
{{- end }}
{{- end -}}

{{/* Egress to PostgreSQL: the chart's pod, or externalDatabase.networkPolicyPeers. */}}
{{- define "cfs.np.databaseEgress" -}}
- to:
    {{- if .Values.postgresql.enabled }}
    {{- include "cfs.np.peer" (dict "root" . "component" "postgresql") | nindent 4 }}
    {{- else }}
    {{- toYaml .Values.externalDatabase.networkPolicyPeers | nindent 4 }}
    {{- end }}
  ports:
    - {protocol: TCP, port: {{ ternary 5432 .Values.externalDatabase.port .Values.postgresql.enabled }}}
{{- end -}}

{{/* Ingress to a metrics port from whoever scrapes. dict "root" "port". */}}
{{- define "cfs.np.metricsIngress" -}}
- from:
    {{- toYaml .root.Values.networkPolicy.metricsFrom | nindent 4 }}
  ports:
    - {protocol: TCP, port: {{ .port }}}
{{- end -}}

{{/*
A cfs service's NetworkPolicy. dict: root, component, values, from (list of component
names allowed to call its gRPC port), to (list of dicts {component, port}), egress (YAML, extra).
*/}}
{{- define "cfs.service.networkPolicy" -}}
{{- $root := .root -}}
{{- if $root.Values.networkPolicy.enabled }}
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {{ include "cfs.componentName" . }}
  labels:
    {{- include "cfs.labels" . | nindent 4 }}
spec:
  podSelector:
    matchLabels:
      {{- include "cfs.selectorLabels" . | nindent 6 }}
  policyTypes: [Ingress, Egress]
  ingress:
    {{- if .from }}
    - from:
        {{- range .from }}
        {{- include "cfs.np.peer" (dict "root" $root "component" .) | nindent 8 }}
        {{- end }}
      ports:
        - {protocol: TCP, port: {{ .values.port }}}
    {{- end }}
    {{- include "cfs.np.metricsIngress" (dict "root" $root "port" .values.metricsPort) | nindent 4 }}
    {{- with .ingress }}
    {{- . | trim | nindent 4 }}
    {{- end }}
  egress:
    {{- include "cfs.np.dnsEgress" $root | nindent 4 }}
    {{- include "cfs.np.issuerEgress" $root | trim | nindent 4 }}
    # The app-token issuer's JWKS (metadata), which every service verifies app-password sessions with.
    - to:
        {{- include "cfs.np.peer" (dict "root" $root "component" "metadata") | nindent 8 }}
      ports:
        - {protocol: TCP, port: {{ $root.Values.metadata.appTokens.jwksPort }}}
    {{- range .to }}
    - to:
        {{- include "cfs.np.peer" (dict "root" $root "component" .component) | nindent 8 }}
      ports:
        - {protocol: TCP, port: {{ .port }}}
    {{- end }}
    {{- with .egress }}
    {{- . | trim | nindent 4 }}
    {{- end }}
{{- end }}
{{- end -}}

{{/* A random secret value kept across upgrades: dict "root" "secret" (name) "key" "length". */}}
{{- define "cfs.keptRandom" -}}
{{- $existing := lookup "v1" "Secret" .root.Release.Namespace .secret -}}
{{- if and $existing (hasKey $existing.data .key) -}}
{{- index $existing.data .key | b64dec -}}
{{- else -}}
{{- randAlphaNum (int .length) -}}
{{- end -}}
{{- end -}}

{{/* The Secret holding the app-token issuer's signing key (an EC P-256 private key, PEM). */}}
{{- define "cfs.appTokens.secretName" -}}
{{- .Values.metadata.appTokens.existingSecret | default (include "cfs.componentName" (dict "root" . "component" "app-token-key")) -}}
{{- end -}}
