{{/*
Chunk receipts (values chunkReceipts, README "Chunk receipts"): the one key block storage
signs them with and metadata checks them with, mounted into both from one Secret.
*/}}

{{/* The Secret holding the key. */}}
{{- define "cfs.chunkReceipts.secretName" -}}
{{- .Values.chunkReceipts.existingSecret | default (include "cfs.componentName" (dict "root" . "component" "chunk-receipt-key")) -}}
{{- end -}}

{{/* The env var naming the key's file; nothing when receipts are off. */}}
{{- define "cfs.chunkReceipts.env" -}}
{{- if .Values.chunkReceipts.enabled }}
- name: CFS_CHUNK_RECEIPT_KEY_FILE
  value: /etc/cfs/chunk-receipts/{{ .Values.chunkReceipts.key }}
{{- end }}
{{- end -}}

{{- define "cfs.chunkReceipts.volumes" -}}
{{- if .Values.chunkReceipts.enabled }}
- name: chunk-receipt-key
  secret:
    secretName: {{ include "cfs.chunkReceipts.secretName" . }}
    items:
      - {key: {{ .Values.chunkReceipts.key }}, path: {{ .Values.chunkReceipts.key }}}
{{- end }}
{{- end -}}

{{- define "cfs.chunkReceipts.volumeMounts" -}}
{{- if .Values.chunkReceipts.enabled }}
- name: chunk-receipt-key
  mountPath: /etc/cfs/chunk-receipts
  readOnly: true
{{- end }}
{{- end -}}
