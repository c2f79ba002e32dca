{{- /* Names and labels, as Kubeflow's chart makes them, so that a release keeps its objects'
names (and its leader Leases) when it moves from Kubeflow's chart to this one. */}}
{{- define "spark-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "spark-operator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else if contains (include "spark-operator.name" .) .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name (include "spark-operator.name" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "spark-operator.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "spark-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "spark-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "spark-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "spark-operator.image" -}}
{{ printf "%s/%s:%s" .Values.image.registry .Values.image.repository (.Values.image.tag | default .Chart.AppVersion | toString) }}
{{- end }}

{{- /* Whether the feature gate named by the argument's "name" is on in controller.featureGates. */}}
{{- define "spark-operator.featureGate" -}}
{{- $name := .name }}
{{- range .root.Values.controller.featureGates }}
{{- if and (eq .name $name) .enabled }}true{{ end }}
{{- end }}
{{- end }}

{{- /* Whether the jobs run in every namespace: no jobNamespaces, or "" among them. */}}
{{- define "spark-operator.allNamespaces" -}}
{{- if or (not .Values.spark.jobNamespaces) (has "" .Values.spark.jobNamespaces) }}true{{ end }}
{{- end }}

{{- define "spark-operator.controller.name" -}}
{{- include "spark-operator.fullname" . }}-controller
{{- end }}

{{- define "spark-operator.controller.labels" -}}
{{ include "spark-operator.labels" . }}
app.kubernetes.io/component: controller
{{- end }}

{{- define "spark-operator.controller.selectorLabels" -}}
{{ include "spark-operator.selectorLabels" . }}
app.kubernetes.io/component: controller
{{- end }}

{{- define "spark-operator.controller.serviceAccountName" -}}
{{- if .Values.controller.serviceAccount.create }}
{{- .Values.controller.serviceAccount.name | default (include "spark-operator.controller.name" .) }}
{{- else }}
{{- .Values.controller.serviceAccount.name | default "default" }}
{{- end }}
{{- end }}

{{- define "spark-operator.controller.leaderElectionName" -}}
{{- include "spark-operator.controller.name" . }}-lock
{{- end }}

{{- define "spark-operator.spark.serviceAccountName" -}}
{{- if .Values.spark.serviceAccount.create }}
{{- .Values.spark.serviceAccount.name | default (printf "%s-spark" (include "spark-operator.fullname" .)) }}
{{- else }}
{{- .Values.spark.serviceAccount.name | default "default" }}
{{- end }}
{{- end }}

{{- define "spark-operator.webhook.name" -}}
{{- include "spark-operator.fullname" . }}-webhook
{{- end }}

{{- define "spark-operator.webhook.labels" -}}
{{ include "spark-operator.labels" . }}
app.kubernetes.io/component: webhook
{{- end }}

{{- define "spark-operator.webhook.selectorLabels" -}}
{{ include "spark-operator.selectorLabels" . }}
app.kubernetes.io/component: webhook
{{- end }}

{{- define "spark-operator.webhook.serviceAccountName" -}}
{{- if .Values.webhook.serviceAccount.create }}
{{- .Values.webhook.serviceAccount.name | default (include "spark-operator.webhook.name" .) }}
{{- else }}
{{- .Values.webhook.serviceAccount.name | default "default" }}
{{- end }}
{{- end }}

{{- /* The Secret the webhook keeps its CA and serving certificate in (or cert-manager does). */}}
{{- define "spark-operator.webhook.secretName" -}}
{{- include "spark-operator.webhook.name" . }}-certs
{{- end }}

{{- define "spark-operator.webhook.serviceName" -}}
{{- include "spark-operator.webhook.name" . }}-svc
{{- end }}

{{- define "spark-operator.webhook.leaderElectionName" -}}
{{- include "spark-operator.webhook.name" . }}-lock
{{- end }}

{{- define "spark-operator.certManager.certificateName" -}}
{{- include "spark-operator.name" . }}-certificate
{{- end }}

{{- define "spark-operator.certManager.issuerName" -}}
{{- include "spark-operator.name" . }}-self-signed-issuer
{{- end }}

{{- define "spark-operator.hook.name" -}}
{{- include "spark-operator.fullname" . }}-hook
{{- end }}

{{- /* topologySpreadConstraints with the component's selector labels (Kubeflow's chart does the
same), for .constraints of .root's .component ("controller" or "webhook"). */}}
{{- define "spark-operator.topologySpreadConstraints" -}}
{{- $selector := include (printf "spark-operator.%s.selectorLabels" .component) .root | fromYaml }}
{{- range .constraints }}
- {{ mergeOverwrite . (dict "labelSelector" (dict "matchLabels" $selector)) | toYaml | nindent 2 | trim }}
{{- end }}
{{- end }}
