{{/* Names: the release's name when it contains the chart's ("surge" -> surge-*, as deploy/base). */}}
{{- define "surge.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "surge.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "surge.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "surge.namespace" -}}
{{- default .Release.Namespace .Values.namespaceOverride -}}
{{- end -}}

{{- define "surge.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "surge.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The Secret holding tls.crt, tls.key and ca.crt. */}}
{{- define "surge.servingSecret" -}}
{{- printf "%s-serving-cert" (include "surge.fullname" .) -}}
{{- end -}}

{{/* The name the aggregator verifies: <service>.<namespace>.svc. */}}
{{- define "surge.serviceHost" -}}
{{- printf "%s.%s.svc" (include "surge.fullname" .) (include "surge.namespace" .) -}}
{{- end -}}

{{- define "surge.selectorLabels" -}}
app.kubernetes.io/name: {{ include "surge.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: metrics-apiserver
{{- end -}}

{{/* Labels of every object: the base's, Helm's, and customLabels. */}}
{{- define "surge.labels" -}}
app.kubernetes.io/name: {{ include "surge.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/part-of: surge
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- with .Values.customLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "surge.annotations" -}}
{{- with .Values.customAnnotations }}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* An object's metadata: .name, the release's namespace unless .clusterScoped, labels (+ .component, .labels), customAnnotations. */}}
{{- define "surge.metadata" -}}
name: {{ .name }}
{{- if not .clusterScoped }}
namespace: {{ include "surge.namespace" .root }}
{{- end }}
labels:
  {{- include "surge.labels" .root | nindent 2 }}
  {{- with .component }}
  app.kubernetes.io/component: {{ . }}
  {{- end }}
  {{- with .labels }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- include "surge.annotations" .root }}
{{- end -}}

{{- define "surge.prometheusUrl" -}}
{{- tpl .Values.prometheus.url . }}{{ with .Values.prometheus.port }}:{{ . }}{{ end }}{{ .Values.prometheus.path -}}
{{- end -}}

{{/* The rules file Surge serves: Surge's default rules, then rules.custom/external/resource. */}}
{{- define "surge.config" -}}
{{- $rules := list -}}
{{- $external := list -}}
{{- if .Values.rules.default -}}
{{- $seed := .Files.Get "files/seed-rules.yaml" | fromYaml -}}
{{- $rules = concat $rules ($seed.rules | default list) -}}
{{- $external = concat $external ($seed.externalRules | default list) -}}
{{- end -}}
{{- with .Values.rules.custom -}}
{{- $rules = concat $rules (tpl (toYaml .) $ | fromYamlArray) -}}
{{- end -}}
{{- with .Values.rules.external -}}
{{- $external = concat $external . -}}
{{- end -}}
{{- $config := dict -}}
{{- if $rules }}{{ $_ := set $config "rules" $rules }}{{ end -}}
{{- if $external }}{{ $_ := set $config "externalRules" $external }}{{ end -}}
{{- with .Values.rules.resource }}{{ $_ := set $config "resourceRules" . }}{{ end -}}
{{- toYaml $config -}}
{{- end -}}

{{/* Whether an API group is registered: apiServices.<group> when set, else as prometheus-adapter's chart decides. */}}
{{- define "surge.registers" -}}
{{- $root := .root -}}
{{- $choice := index $root.Values.apiServices .group -}}
{{- if kindIs "bool" $choice -}}
{{- ternary "true" "" $choice -}}
{{- else if eq .group "custom" -}}
{{- ternary "true" "" (or (and $root.Values.rules.default (not $root.Values.rules.existing)) (not (empty $root.Values.rules.custom)) (not (empty $root.Values.rules.existing))) -}}
{{- else if eq .group "external" -}}
{{- ternary "true" "" (or (and $root.Values.rules.default (not $root.Values.rules.existing)) (not (empty $root.Values.rules.external))) -}}
{{- else -}}
{{- ternary "true" "" (not (empty $root.Values.rules.resource)) -}}
{{- end -}}
{{- end -}}

{{/* Surge's --log-level from a Surge level or prometheus-adapter's klog verbosity. */}}
{{- define "surge.logLevel" -}}
{{- $level := .Values.logLevel -}}
{{- if kindIs "string" $level -}}
{{- $level -}}
{{- else if ge (int $level) 5 -}}
debug
{{- else -}}
info
{{- end -}}
{{- end -}}
