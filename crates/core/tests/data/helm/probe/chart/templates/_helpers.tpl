{{- define "probe.name" -}}{{ .Chart.Name | trunc 63 | trimSuffix "-" }}{{- end }}
{{- define "probe.flag" -}}{{ $_ := set . "flag" "set-by-helper" }}{{- end }}
