{{/*
The web page's /config.json (web/src/config.ts reads it): a user-name sign-in at the
dev issuer with devIssuer.enabled, else Auth0 (authorization code with PKCE) for the
domain of auth.issuer, the API of auth.audience and the SPA's web.auth0ClientId.
*/}}
{{- define "cfs.web.pageConfig" -}}
{{- $w := .Values.web -}}
{{- $auth := dict -}}
{{- if .Values.devIssuer.enabled -}}
{{- $auth = dict "mode" "dev" "tokenUrl" (required "web.devTokenUrl is required with devIssuer.enabled (where browsers reach the dev issuer's /dev/token)" $w.devTokenUrl) -}}
{{- else -}}
{{- $issuer := include "cfs.auth.issuer" . | urlParse -}}
{{- if not $issuer.host -}}
{{- fail "auth.issuer must be a URL such as https://<tenant>.auth0.com/ (the web page signs in at its host)" -}}
{{- end -}}
{{- $clientId := required "web.auth0ClientId is required unless devIssuer.enabled: the Client ID of your Auth0 Single Page Application (or web.enabled=false)" $w.auth0ClientId -}}
{{- $auth = dict "mode" "auth0" "domain" $issuer.host "clientId" $clientId "audience" (include "cfs.auth.audience" .) -}}
{{- end -}}
{{- dict "apiBaseUrl" ($w.apiBaseUrl | default "") "auth" $auth | toJson -}}
{{- end -}}
