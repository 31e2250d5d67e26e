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

{{/* the Secret of a component's certificate (cert-manager writes tls.crt, tls.key, ca.crt into it) */}}
{{- define "boundless.tlsSecret" -}}{{ printf "%s-%s-tls" (include "boundless.fullname" .root) .component }}{{- end -}}

{{/* a container's BOUNDLESS_TLS_* environment: its certificate's files, or plaintext where tls.enabled is false */}}
{{- define "boundless.tlsEnv" -}}
{{- if .root.Values.tls.enabled }}
- {name: BOUNDLESS_TLS_CERT, value: /etc/boundless/tls/tls.crt}
- {name: BOUNDLESS_TLS_KEY, value: /etc/boundless/tls/tls.key}
- {name: BOUNDLESS_TLS_CA, value: /etc/boundless/tls/ca.crt}
- {name: BOUNDLESS_TLS_RELOAD_INTERVAL, value: {{ .root.Values.tls.reloadInterval | quote }}}
{{- else }}
- {name: BOUNDLESS_TLS_PLAINTEXT, value: "true"}
{{- end }}
{{- end -}}

{{/* the certificate's volume mount (not a subPath: the kubelet then swaps renewed files in, and the service reloads them) */}}
{{- define "boundless.tlsMount" -}}
{{- if .root.Values.tls.enabled }}
- {name: tls, mountPath: /etc/boundless/tls, readOnly: true}
{{- end }}
{{- end -}}

{{- define "boundless.tlsVolume" -}}
{{- if .root.Values.tls.enabled }}
- name: tls
  secret: {secretName: {{ include "boundless.tlsSecret" . }}, defaultMode: 0440}
{{- end }}
{{- end -}}

{{/* OpenTelemetry traces to a collector (tracing.*); the router passes the same to the replicas it creates */}}
{{- define "boundless.tracingEnv" -}}
{{- if .Values.tracing.enabled }}
- {name: QUARKUS_OTEL_SDK_DISABLED, value: "false"}
- {name: QUARKUS_OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, value: {{ required "tracing.endpoint: the OTLP collector traces go to" .Values.tracing.endpoint | quote }}}
- {name: QUARKUS_OTEL_EXPORTER_OTLP_TRACES_PROTOCOL, value: {{ .Values.tracing.protocol | quote }}}
{{- end }}
{{- end -}}
