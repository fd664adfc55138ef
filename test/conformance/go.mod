module github.com/sim-operator/sim-operator/test/conformance

go 1.26.0

require (
	github.com/hashicorp/go-retryablehttp v0.7.8
	github.com/sailpoint-oss/golang-sdk/v2 v2.7.106
	github.com/sim-operator/sim-operator v0.0.0-00010101000000-000000000000
	k8s.io/utils v0.0.0-20260707023825-cf1189d6abe3
)

require (
	github.com/evanphx/json-patch/v5 v5.9.11 // indirect
	github.com/hashicorp/go-cleanhttp v0.5.2 // indirect
	golang.org/x/oauth2 v0.38.0 // indirect
	gopkg.in/validator.v2 v2.0.1 // indirect
)

replace github.com/sim-operator/sim-operator => ../..
