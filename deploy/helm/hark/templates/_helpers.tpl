{{/* Chart name. */}}
{{- define "hark.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Fully qualified app name (the release name when it already contains the chart's). */}}
{{- define "hark.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "hark.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "hark.selectorLabels" -}}
app.kubernetes.io/name: {{ include "hark.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "hark.labels" -}}
helm.sh/chart: {{ include "hark.chart" . }}
{{ include "hark.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: hark
{{- end }}

{{- define "hark.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "hark.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The image: the tag defaults to appVersion, "-cuda" for the GPU image. */}}
{{- define "hark.image" -}}
{{- $tag := .Values.image.tag }}
{{- if not $tag }}
{{- $tag = ternary (printf "%s-cuda" .Chart.AppVersion) .Chart.AppVersion .Values.gpu.enabled }}
{{- end }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}

{{- define "hark.secretName" -}}
{{- default (include "hark.fullname" .) .Values.secret.existingSecret }}
{{- end }}

{{/* HARK_JOB_STORE for the jobs API: an external Redis, or the chart's own. */}}
{{- define "hark.jobStore" -}}
{{- if .Values.redis.url }}
{{- .Values.redis.url }}
{{- else if .Values.redis.enabled }}
{{- printf "redis://%s-redis:6379/0" (include "hark.fullname" .) }}
{{- end }}
{{- end }}

{{/* The Prometheus series selector for this release's pods. */}}
{{- define "hark.promSelector" -}}
{{- printf "job=\"%s\", namespace=\"%s\"" (include "hark.fullname" .) .Release.Namespace }}
{{- end }}
