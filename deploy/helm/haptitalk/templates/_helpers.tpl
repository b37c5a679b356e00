{{/* Object names: <release>-haptitalk-<component>, or fullnameOverride-<component>. */}}
{{- define "haptitalk.fullname" -}}
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

{{- define "haptitalk.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 40 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels on every object. Call with (dict "ctx" $ "component" "gateway"). */}}
{{- define "haptitalk.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .ctx.Chart.Name .ctx.Chart.Version }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/part-of: haptitalk
{{ include "haptitalk.selectorLabels" . }}
{{- end -}}

{{/* The labels a Service or NetworkPolicy selects a component's pods by. */}}
{{- define "haptitalk.selectorLabels" -}}
app.kubernetes.io/name: {{ include "haptitalk.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* Name of a component's objects: (dict "ctx" $ "component" "session"). */}}
{{- define "haptitalk.componentName" -}}
{{- printf "%s-%s" (include "haptitalk.fullname" .ctx) .component -}}
{{- end -}}

{{- define "haptitalk.containerSecurityContext" -}}
{{- toYaml .Values.containerSecurityContext }}
{{- end -}}

{{/* The Secret that holds PostgreSQL's password. */}}
{{- define "haptitalk.postgresSecret" -}}
{{- default (include "haptitalk.componentName" (dict "ctx" . "component" "postgresql")) .Values.postgresql.existingSecret -}}
{{- end -}}

{{- define "haptitalk.postgresHost" -}}
{{- if .Values.postgresql.enabled -}}
{{- include "haptitalk.componentName" (dict "ctx" . "component" "postgresql") -}}
{{- else -}}
{{- required "postgresql.external.host is required when postgresql.enabled is false" .Values.postgresql.external.host -}}
{{- end -}}
{{- end -}}

{{/* Where every service sends OTLP: the agent on its own node. */}}
{{- define "haptitalk.otlpEndpoint" -}}
{{- printf "http://%s:%v" (include "haptitalk.componentName" (dict "ctx" . "component" "otel-agent")) .Values.collector.ports.otlpHttp -}}
{{- end -}}

{{/* The tail tier's headless Service: one DNS answer per ready replica. */}}
{{- define "haptitalk.tailHeadless" -}}
{{- include "haptitalk.componentName" (dict "ctx" . "component" "otel-tail") -}}
{{- end -}}

{{/* The collector's settings, as ${env:...} that infra/collector/*.yaml read. */}}
{{- define "haptitalk.collectorEnv" -}}
- name: LISTEN_HOST
  value: 0.0.0.0
- name: OTLP_GRPC_PORT
  value: {{ .Values.collector.ports.otlpGrpc | quote }}
- name: OTLP_HTTP_PORT
  value: {{ .Values.collector.ports.otlpHttp | quote }}
- name: COLLECTOR_HEALTH_PORT
  value: {{ .Values.collector.ports.health | quote }}
- name: COLLECTOR_TELEMETRY_PORT
  value: {{ .Values.collector.ports.telemetry | quote }}
- name: COLLECTOR_PROMETHEUS_PORT
  value: {{ .Values.collector.ports.prometheus | quote }}
- name: ZPAGES_PORT
  value: {{ .Values.collector.ports.zpages | quote }}
- name: GATEWAY_PORT
  value: {{ .Values.gateway.port | quote }}
- name: DEPLOYMENT_ENVIRONMENT
  value: {{ .Values.collector.deploymentEnvironment | quote }}
- name: COLLECTOR_DATA_DIR
  value: /var/lib/otelcol
{{- end -}}

{{/* Every pod's registry secrets (imagePullSecrets), at the pod spec's indentation. */}}
{{- define "haptitalk.imagePullSecrets" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* Where a component's pods may run: its values' nodeSelector, affinity, tolerations. */}}
{{- define "haptitalk.scheduling" -}}
{{- with .nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* A component's PodDisruptionBudget: (dict "ctx" $ "component" "gateway" "pdb" ...). */}}
{{- define "haptitalk.podDisruptionBudget" -}}
{{- if .pdb.enabled }}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "haptitalk.componentName" . }}
  labels:
    {{- include "haptitalk.labels" . | nindent 4 }}
spec:
  maxUnavailable: {{ .pdb.maxUnavailable }}
  selector:
    matchLabels:
      {{- include "haptitalk.selectorLabels" . | nindent 6 }}
{{- end }}
{{- end -}}
