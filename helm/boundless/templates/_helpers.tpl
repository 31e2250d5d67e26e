{{- define "boundless.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}{{ .Release.Name | trunc 40 | trimSuffix "-" }}{{- else -}}{{ printf "%s-%s" .Release.Name .Chart.Name | trunc 40 | trimSuffix "-" }}{{- end -}}
{{- end -}}

{{- define "boundless.tag" -}}{{ .Values.image.tag | default .Chart.AppVersion }}{{- end -}}

{{- define "boundless.image" -}}{{ printf "%s/%s:%s" .root.Values.image.registry .name (include "boundless.tag" .root) }}{{- end -}}

{{- define "boundless.labels" -}}
app.kubernetes.io/part-of: boundless
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* the Pod security context of every Boundless Pod */}}
{{- define "boundless.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* the container security context of every Boundless container */}}
{{- define "boundless.securityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: [ALL]
{{- end -}}

{{- define "boundless.claim" -}}{{ .Values.modelStore.existingClaim | default (printf "%s-models" (include "boundless.fullname" .)) }}{{- end -}}
