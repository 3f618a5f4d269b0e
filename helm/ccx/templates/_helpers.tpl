{{/*
Chart name, truncated to the 63 characters a DNS label allows.
*/}}
{{- define "ccx.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name of the release's objects: <release>-ccx, or the release name when it already
contains the chart name. Pod names of the StatefulSets add "-stream-N" / "-control-N", so the
name is cut at 40 characters to keep those within a DNS label.
*/}}
{{- define "ccx.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "ccx.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Common labels. Call with (dict "ctx" $ "component" "collector"); component may be empty.
*/}}
{{- define "ccx.labels" -}}
helm.sh/chart: {{ include "ccx.chart" .ctx }}
{{ include "ccx.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Values.image.tag | default .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/part-of: ccx
{{- with .ctx.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Selector labels. Call with (dict "ctx" $ "component" "collector").
*/}}
{{- define "ccx.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ccx.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
{{- if .component }}
app.kubernetes.io/component: {{ .component }}
{{- end }}
{{- end }}

{{- define "ccx.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "ccx.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "ccx.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/* Object names */}}
{{- define "ccx.collector.fullname" -}}{{ include "ccx.fullname" . }}-collector{{- end }}
{{- define "ccx.stream.fullname" -}}{{ include "ccx.fullname" . }}-stream{{- end }}
{{- define "ccx.stream.headless" -}}{{ include "ccx.fullname" . }}-stream-headless{{- end }}
{{- define "ccx.control.fullname" -}}{{ include "ccx.fullname" . }}-control{{- end }}
{{- define "ccx.control.headless" -}}{{ include "ccx.fullname" . }}-control-headless{{- end }}
{{- define "ccx.wallboard.fullname" -}}{{ include "ccx.fullname" . }}-wallboard{{- end }}
{{- define "ccx.configMapName" -}}{{ include "ccx.fullname" . }}-config{{- end }}

{{- define "ccx.secretName" -}}
{{- default (printf "%s-secret" (include "ccx.fullname" .)) .Values.secret.existingSecret }}
{{- end }}

{{/*
Cluster-internal DNS suffix of the release's namespace.
*/}}
{{- define "ccx.dnsSuffix" -}}
{{- printf "%s.svc.cluster.local" .Release.Namespace }}
{{- end }}

{{/*
Timely peer list: every stream pod's stable DNS name with the peer port, in ordinal order.
*/}}
{{- define "ccx.stream.peers" -}}
{{- $peers := list }}
{{- $sts := include "ccx.stream.fullname" . }}
{{- $svc := include "ccx.stream.headless" . }}
{{- $suffix := include "ccx.dnsSuffix" . }}
{{- range $i := until (int .Values.stream.replicas) }}
{{- $peers = append $peers (printf "%s-%d.%s.%s:%d" $sts $i $svc $suffix (int $.Values.stream.peerPort)) }}
{{- end }}
{{- join "," $peers }}
{{- end }}

{{/*
A probe of an HTTP(S) listener: (dict "path" P "tls" BOOL "clientCa" BOOL). A listener that asks
every client for a certificate gets a TCP check: the kubelet presents none.
*/}}
{{- define "ccx.probeAction" -}}
{{- if .clientCa }}
tcpSocket:
  port: http
{{- else }}
httpGet:
  path: {{ .path }}
  port: http
  scheme: {{ ternary "HTTPS" "HTTP" .tls }}
{{- end }}
{{- end }}

{{/*
Raft peer list: every control pod's stable DNS name with the gRPC port, in ordinal (= id) order.
*/}}
{{- define "ccx.control.peers" -}}
{{- $peers := list }}
{{- $sts := include "ccx.control.fullname" . }}
{{- $svc := include "ccx.control.headless" . }}
{{- $suffix := include "ccx.dnsSuffix" . }}
{{- range $i := until (int .Values.control.replicas) }}
{{- $peers = append $peers (printf "%d=%s-%d.%s.%s:%d" (add $i (int $.Values.control.idBase)) $sts $i $svc $suffix (int $.Values.control.grpcPort)) }}
{{- end }}
{{- join "," $peers }}
{{- end }}

{{/*
The data of the ConfigMap: the release's own and the migration hook's copy of it.
*/}}
{{- define "ccx.configMapData" -}}
config.toml: |
  {{- include "ccx.configToml" . | nindent 2 }}
{{- if .Values.extraConfig }}
extra.toml: |
  {{- .Values.extraConfig | nindent 2 }}
{{- end }}
{{- end }}

{{/*
The control-plane replicas every workload reads (every control pod's gRPC address): the
collector's tokens, the stream's tenant settings and alerts, the wallboard's alerts.
*/}}
{{- define "ccx.control.endpoints" -}}
[
{{- if .Values.control.enabled }}
{{- $sts := include "ccx.control.fullname" . }}
{{- $svc := include "ccx.control.headless" . }}
{{- $suffix := include "ccx.dnsSuffix" . }}
{{- range $i := until (int .Values.control.replicas) }}
{{- if $i }}, {{ end }}{{ printf "%s-%d.%s.%s:%d" $sts $i $svc $suffix (int $.Values.control.grpcPort) | quote }}
{{- end }}
{{- end -}}
]
{{- end }}

{{/*
A TOML basic string. JSON string escapes are a subset of TOML's.
*/}}
{{- define "ccx.tomlString" -}}
{{- toJson (toString .) }}
{{- end }}

{{/*
librdkafka properties derived from kafka.tls / kafka.sasl, then kafka.properties (which win).
*/}}
{{- define "ccx.kafkaProperties" -}}
{{- $k := .Values.kafka }}
{{- $props := dict }}
{{- if and $k.tls.enabled $k.sasl.enabled }}
{{- $_ := set $props "security.protocol" "SASL_SSL" }}
{{- else if $k.tls.enabled }}
{{- $_ := set $props "security.protocol" "SSL" }}
{{- else if $k.sasl.enabled }}
{{- $_ := set $props "security.protocol" "SASL_PLAINTEXT" }}
{{- end }}
{{- if $k.tls.enabled }}
{{- if $k.tls.caSecret.name }}
{{- $_ := set $props "ssl.ca.location" "/etc/ccx/kafka-ca/ca.crt" }}
{{- end }}
{{- if $k.tls.clientCertSecret }}
{{- $_ := set $props "ssl.certificate.location" "/etc/ccx/kafka-client/tls.crt" }}
{{- $_ := set $props "ssl.key.location" "/etc/ccx/kafka-client/tls.key" }}
{{- end }}
{{- end }}
{{- if $k.sasl.enabled }}
{{- $_ := set $props "sasl.mechanism" $k.sasl.mechanism }}
{{- if $k.sasl.username }}
{{- $_ := set $props "sasl.username" $k.sasl.username }}
{{- end }}
{{- end }}
{{- range $key, $value := $k.properties }}
{{- $_ := set $props $key $value }}
{{- end }}
{{- toJson $props }}
{{- end }}

{{/*
config.toml: everything that is not a secret. Shared by the ConfigMap and the migration hook.
*/}}
{{- define "ccx.configToml" -}}
# Generated by the ccx chart. Secrets come from a second file (see secret.toml).
[collector]
grpc_listen = {{ printf "0.0.0.0:%d" (int .Values.collector.grpcPort) | quote }}
http_listen = {{ printf "0.0.0.0:%d" (int .Values.collector.httpPort) | quote }}
max_batch_events = {{ int64 .Values.collector.maxBatchEvents }}
max_batch_bytes = {{ int64 .Values.collector.maxBatchBytes }}
drain_timeout = {{ include "ccx.tomlString" .Values.collector.drainTimeout }}
{{- if .Values.collector.tls.enabled }}

[collector.tls]
cert = "/etc/ccx/tls/tls.crt"
key = "/etc/ccx/tls/tls.key"
{{- if .Values.collector.tls.clientCaSecret.name }}
client_ca = "/etc/ccx/collector-client-ca/ca.crt"
{{- end }}
{{- end }}

[kafka]
brokers = {{ include "ccx.tomlString" .Values.kafka.brokers }}
topic = {{ include "ccx.tomlString" .Values.kafka.topic }}
partitions = {{ int64 .Values.kafka.partitions }}
delivery_timeout = {{ include "ccx.tomlString" .Values.kafka.deliveryTimeout }}

[kafka.properties]
{{- range $key, $value := (include "ccx.kafkaProperties" . | fromJson) }}
{{ include "ccx.tomlString" $key }} = {{ include "ccx.tomlString" $value }}
{{- end }}

[validation]
max_past = {{ include "ccx.tomlString" .Values.validation.maxPast }}
max_future = {{ include "ccx.tomlString" .Values.validation.maxFuture }}

[clickhouse]
url = {{ include "ccx.tomlString" .Values.clickhouse.url }}
database = {{ include "ccx.tomlString" .Values.clickhouse.database }}
user = {{ include "ccx.tomlString" .Values.clickhouse.user }}
failover_urls = {{ toJson (.Values.clickhouse.failoverUrls | default list) }}
{{- with .Values.clickhouse.retentionDays }}

[clickhouse.retention_days]
{{- range $table, $days := . }}
{{ $table }} = {{ int $days }}
{{- end }}
{{- end }}
{{- if .Values.clickhouse.cluster.name }}

[clickhouse.cluster]
name = {{ include "ccx.tomlString" .Values.clickhouse.cluster.name }}
replicated = {{ .Values.clickhouse.cluster.replicated }}
shards = {{ int .Values.clickhouse.cluster.shards }}
{{- end }}

[stream]
checkpoint_dir = {{ include "ccx.tomlString" .Values.stream.checkpoint.dir }}
http_listen = {{ printf "0.0.0.0:%d" (int .Values.stream.httpPort) | quote }}
{{- if .Values.stream.tls.enabled }}

[stream.tls]
cert = "/etc/ccx/stream-tls/tls.crt"
key = "/etc/ccx/stream-tls/tls.key"
{{- end }}

[control]
endpoints = {{ include "ccx.control.endpoints" . }}
data_dir = {{ include "ccx.tomlString" .Values.control.dataDir }}
grpc_listen = {{ printf "0.0.0.0:%d" (int .Values.control.grpcPort) | quote }}
http_listen = {{ printf "0.0.0.0:%d" (int .Values.control.httpPort) | quote }}
{{- if .Values.control.tls.enabled }}
ca = "/etc/ccx/control-ca/ca.crt"

[control.tls]
cert = "/etc/ccx/control-tls/tls.crt"
key = "/etc/ccx/control-tls/tls.key"
client_ca = "/etc/ccx/control-tls/ca.crt"
{{- end }}
{{- if .Values.wallboard.tls.enabled }}

[wallboard.tls]
cert = "/etc/ccx/wallboard-tls/tls.crt"
key = "/etc/ccx/wallboard-tls/tls.key"
{{- if .Values.wallboard.tls.clientCaSecret.name }}
client_ca = "/etc/ccx/wallboard-client-ca/ca.crt"
{{- end }}
{{- end }}
{{- /* Credentials the replicas accept: SHA-256 hashes of high-entropy tokens only. */}}
{{- range .Values.control.auth.operators }}

[[control.operators]]
name = {{ include "ccx.tomlString" .name }}
token_sha256 = {{ include "ccx.tomlString" (lower .tokenSha256) }}
{{- end }}
{{- with .Values.control.auth.service }}
{{- if .tokenSha256 }}

[[control.services]]
name = {{ include "ccx.tomlString" .name }}
token_sha256 = {{ include "ccx.tomlString" (lower .tokenSha256) }}
{{- end }}
{{- end }}
{{- end }}

{{/*
secret.toml: tenant token hashes and credentials. Shared by the Secret and the migration hook.
*/}}
{{- define "ccx.secretToml" -}}
# Generated by the ccx chart from the release values.
{{- range .Values.tenants }}

[[tenants]]
id = {{ include "ccx.tomlString" .id }}
token_sha256 = {{ include "ccx.tomlString" (lower .tokenSha256) }}
{{- end }}
{{- if .Values.kafka.sasl.password }}

[kafka.properties]
"sasl.password" = {{ include "ccx.tomlString" .Values.kafka.sasl.password }}
{{- end }}
{{- if .Values.clickhouse.password }}

[clickhouse]
password = {{ include "ccx.tomlString" .Values.clickhouse.password }}
{{- end }}
{{- end }}

{{/*
The --config arguments of every ccx container, in merge order.
*/}}
{{- define "ccx.configArgs" -}}
- --config
- /etc/ccx/config/config.toml
{{- if .Values.extraConfig }}
- --config
- /etc/ccx/config/extra.toml
{{- end }}
- --config
- /etc/ccx/secret/{{ .Values.secret.key }}
{{- range $i, $s := .Values.extraConfigSecrets }}
- --config
- /etc/ccx/secret-{{ $i }}/{{ $s.key }}
{{- end }}
{{- end }}

{{/*
Config volume mounts of every ccx container.
*/}}
{{- define "ccx.configVolumeMounts" -}}
- name: config
  mountPath: /etc/ccx/config
  readOnly: true
- name: secret
  mountPath: /etc/ccx/secret
  readOnly: true
{{- range $i, $s := .Values.extraConfigSecrets }}
- name: secret-{{ $i }}
  mountPath: /etc/ccx/secret-{{ $i }}
  readOnly: true
{{- end }}
{{- if and .Values.kafka.tls.enabled .Values.kafka.tls.caSecret.name }}
- name: kafka-ca
  mountPath: /etc/ccx/kafka-ca
  readOnly: true
{{- end }}
{{- if and .Values.kafka.tls.enabled .Values.kafka.tls.clientCertSecret }}
- name: kafka-client
  mountPath: /etc/ccx/kafka-client
  readOnly: true
{{- end }}
{{- if .Values.clickhouse.tls.caSecret.name }}
- name: clickhouse-ca
  mountPath: /etc/ccx/clickhouse-ca
  readOnly: true
{{- end }}
{{- if .Values.control.tls.enabled }}
- name: control-ca
  mountPath: /etc/ccx/control-ca
  readOnly: true
{{- end }}
- name: tmp
  mountPath: /tmp
{{- end }}

{{/*
Config volumes of every ccx pod. Call with (dict "ctx" $ "configMap" NAME "secret" NAME).
*/}}
{{- define "ccx.configVolumes" -}}
{{- $v := .ctx.Values }}
- name: config
  configMap:
    name: {{ .configMap }}
- name: secret
  secret:
    secretName: {{ .secret }}
    items:
      - key: {{ $v.secret.key }}
        path: {{ $v.secret.key }}
{{- range $i, $s := $v.extraConfigSecrets }}
- name: secret-{{ $i }}
  secret:
    secretName: {{ $s.name }}
    items:
      - key: {{ $s.key }}
        path: {{ $s.key }}
{{- end }}
{{- if and $v.kafka.tls.enabled $v.kafka.tls.caSecret.name }}
- name: kafka-ca
  secret:
    secretName: {{ $v.kafka.tls.caSecret.name }}
    items:
      - key: {{ $v.kafka.tls.caSecret.key }}
        path: ca.crt
{{- end }}
{{- if and $v.kafka.tls.enabled $v.kafka.tls.clientCertSecret }}
- name: kafka-client
  secret:
    secretName: {{ $v.kafka.tls.clientCertSecret }}
    items:
      - key: tls.crt
        path: tls.crt
      - key: tls.key
        path: tls.key
{{- end }}
{{- if $v.clickhouse.tls.caSecret.name }}
- name: clickhouse-ca
  secret:
    secretName: {{ $v.clickhouse.tls.caSecret.name }}
    items:
      - key: {{ $v.clickhouse.tls.caSecret.key }}
        path: ca.crt
{{- end }}
{{- if $v.control.tls.enabled }}
- name: control-ca
  secret:
    secretName: {{ $v.control.tls.secretName }}
    items:
      - key: ca.crt
        path: ca.crt
{{- end }}
- name: tmp
  emptyDir:
    sizeLimit: 64Mi
{{- end }}

{{/*
Environment of every ccx container.
*/}}
{{- define "ccx.env" -}}
- name: CCX_LOG
  value: {{ .Values.logging.level | quote }}
- name: CCX_LOG_FORMAT
  value: {{ .Values.logging.format | quote }}
{{- if .Values.clickhouse.passwordSecret.name }}
- name: CCX__CLICKHOUSE__PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .Values.clickhouse.passwordSecret.name }}
      key: {{ .Values.clickhouse.passwordSecret.key }}
{{- end }}
{{- if .Values.control.auth.service.tokenSecret.name }}
# The service credential presented to the control plane.
- name: CCX__CONTROL__TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ .Values.control.auth.service.tokenSecret.name }}
      key: {{ .Values.control.auth.service.tokenSecret.key }}
{{- end }}
{{- if .Values.clickhouse.tls.caSecret.name }}
- name: SSL_CERT_FILE
  value: /etc/ccx/clickhouse-ca/ca.crt
{{- end }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Pod annotations that roll the pods when their configuration changes.
*/}}
{{- define "ccx.configChecksums" -}}
checksum/config: {{ include "ccx.configToml" . | printf "%s\n%s" .Values.extraConfig | sha256sum }}
{{- if not .Values.secret.existingSecret }}
checksum/secret: {{ include "ccx.secretToml" . | sha256sum }}
{{- end }}
{{- end }}

{{/*
Pod anti-affinity preset. Call with (dict "ctx" $ "component" "stream" "mode" "soft").
*/}}
{{- define "ccx.podAntiAffinity" -}}
{{- if eq .mode "hard" }}
podAntiAffinity:
  requiredDuringSchedulingIgnoredDuringExecution:
    - topologyKey: kubernetes.io/hostname
      labelSelector:
        matchLabels:
          {{- include "ccx.selectorLabels" (dict "ctx" .ctx "component" .component) | nindent 10 }}
{{- else if eq .mode "soft" }}
podAntiAffinity:
  preferredDuringSchedulingIgnoredDuringExecution:
    - weight: 100
      podAffinityTerm:
        topologyKey: kubernetes.io/hostname
        labelSelector:
          matchLabels:
            {{- include "ccx.selectorLabels" (dict "ctx" .ctx "component" .component) | nindent 12 }}
{{- end }}
{{- end }}

{{/*
Scheduling block of a component's pod spec. Call with (dict "ctx" $ "component" "stream").
*/}}
{{- define "ccx.scheduling" -}}
{{- $c := index .ctx.Values .component }}
{{- if $c.affinity }}
affinity:
  {{- toYaml $c.affinity | nindent 2 }}
{{- else if $c.podAntiAffinity }}
affinity:
  {{- include "ccx.podAntiAffinity" (dict "ctx" .ctx "component" .component "mode" $c.podAntiAffinity) | trim | nindent 2 }}
{{- end }}
{{- with $c.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $c.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $c.topologySpreadConstraints }}
topologySpreadConstraints:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $c.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- end }}

{{/*
Checks the schema cannot express.
*/}}
{{- define "ccx.validate" -}}
{{- if and .Values.collector.tls.enabled (not .Values.collector.tls.secretName) }}
{{- fail "collector.tls.secretName is required when collector.tls.enabled is true" }}
{{- end }}
{{- if and .Values.collector.tls.enabled .Values.collector.tls.clientCaSecret.name .Values.metrics.serviceMonitor.enabled (not .Values.metrics.serviceMonitor.collectorClientCertSecret) }}
{{- fail "metrics.serviceMonitor.collectorClientCertSecret is required when the collector asks for client certificates (collector.tls.clientCaSecret) and the ServiceMonitor is enabled" }}
{{- end }}
{{- if and .Values.control.tls.enabled (not .Values.control.tls.secretName) }}
{{- fail "control.tls.secretName is required when control.tls.enabled is true" }}
{{- end }}
{{- if and .Values.stream.tls.enabled (not .Values.stream.tls.secretName) }}
{{- fail "stream.tls.secretName is required when stream.tls.enabled is true" }}
{{- end }}
{{- if and .Values.wallboard.tls.enabled (not .Values.wallboard.tls.secretName) }}
{{- fail "wallboard.tls.secretName is required when wallboard.tls.enabled is true" }}
{{- end }}
{{- if and .Values.kafka.sasl.enabled (not .Values.kafka.sasl.username) }}
{{- fail "kafka.sasl.username is required when kafka.sasl.enabled is true" }}
{{- end }}
{{- if and .Values.secret.existingSecret (or .Values.tenants .Values.kafka.sasl.password .Values.clickhouse.password) }}
{{- fail "secret.existingSecret is set: put tenants, kafka.sasl.password and clickhouse.password in that Secret, not in the values" }}
{{- end }}
{{- if and .Values.wallboard.enabled .Values.wallboard.ingress.enabled (not .Values.wallboard.ingress.host) }}
{{- fail "wallboard.ingress.host is required when wallboard.ingress.enabled is true" }}
{{- end }}
{{- if and .Values.stream.checkpoint.persistence.existingClaim (not .Values.stream.checkpoint.persistence.enabled) }}
{{- fail "stream.checkpoint.persistence.existingClaim needs stream.checkpoint.persistence.enabled" }}
{{- end }}
{{- if .Values.control.enabled }}
{{- $auth := .Values.control.auth }}
{{- if and (not $auth.operators) (not .Values.secret.existingSecret) }}
{{- fail "control.auth.operators: at least one operator credential (name, tokenSha256) is required: every call to the control plane is authenticated" }}
{{- end }}
{{- if not (and $auth.service.tokenSecret.name $auth.service.tokenSha256) }}
{{- fail "control.auth.service: tokenSecret.name (the token the collector, stream and wallboard present) and tokenSha256 (its SHA-256, for the replicas) are both required" }}
{{- end }}
{{- end }}
{{- $ids := dict }}
{{- range .Values.grafana.tenants }}
{{- if hasKey $ids .id }}
{{- fail (printf "grafana.tenants: tenant %s is listed twice" .id) }}
{{- end }}
{{- $_ := set $ids .id true }}
{{- end }}
{{- end }}

{{/*
The ids of grafana.tenants, comma-separated.
*/}}
{{- define "ccx.grafanaTenantIds" -}}
{{- $ids := list }}
{{- range .Values.grafana.tenants }}{{ $ids = append $ids .id }}{{ end }}
{{- join "," $ids }}
{{- end }}

{{/*
The read database of a tenant (`ccx tenant-database`), in backquotes. Call with (dict "ctx" $ "id" ID).
*/}}
{{- define "ccx.tenantDatabase" -}}
{{- printf "`%s_t_%s`" .ctx.Values.clickhouse.database .id }}
{{- end }}

{{/*
Environment carrying the pod's StatefulSet ordinal (ordinalSource podIndexLabel).
*/}}
{{- define "ccx.ordinalEnv" -}}
{{- if eq .Values.ordinalSource "podIndexLabel" }}
- name: CCX_POD_INDEX
  valueFrom:
    fieldRef:
      fieldPath: metadata.labels['apps.kubernetes.io/pod-index']
{{- end }}
{{- end }}

{{/*
Command and arguments of a StatefulSet member that passes its ordinal (plus base) as flag.
Call with (dict "ctx" $ "role" "stream" "flag" "--process-id" "base" 0 "args" LIST).
Without a shell when the pod-index label gives the value directly; otherwise /bin/sh computes
it and execs ccx with the same arguments.
*/}}
{{- define "ccx.ordinalCommand" -}}
{{- $byLabel := eq .ctx.Values.ordinalSource "podIndexLabel" }}
{{- if and $byLabel (eq (int .base) 0) }}
args:
  - {{ .role }}
  {{- toYaml .args | nindent 2 }}
  - {{ .flag }}
  - $(CCX_POD_INDEX)
{{- else }}
{{- $index := ternary "${CCX_POD_INDEX}" "${HOSTNAME##*-}" $byLabel }}
command:
  - /bin/sh
  - -c
  - exec ccx "$@" {{ .flag }} "$$(( {{ $index }} + {{ int .base }} ))"
  - ccx
args:
  - {{ .role }}
  {{- toYaml .args | nindent 2 }}
{{- end }}
{{- end }}

{{/*
Egress rules of the NetworkPolicies: DNS, the release's own pods, then
networkPolicy.egress.extraRules (Kafka, ClickHouse).
*/}}
{{- define "ccx.networkPolicy.egress" -}}
egress:
  - ports:
      - port: 53
        protocol: UDP
      - port: 53
        protocol: TCP
  - to:
      {{- include "ccx.selfPeer" . | nindent 6 }}
  {{- with .Values.networkPolicy.egress.extraRules }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end }}

{{/*
NetworkPolicy peer: every pod of the release.
*/}}
{{- define "ccx.selfPeer" -}}
- podSelector:
    matchLabels:
      {{- include "ccx.selectorLabels" (dict "ctx" . "component" "") | nindent 6 }}
{{- end }}
