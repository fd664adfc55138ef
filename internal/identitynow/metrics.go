package identitynow

import (
	"errors"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// Metric labels carry only operation names, status codes, releases and fixed
// result words: never ids, names, client ids, secrets or URLs.
var (
	requestsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sim_operator_identitynow_requests_total",
		Help: "SIM API requests sent, by operation and HTTP status code (or transport_error).",
	}, []string{"operation", "code"})
	requestDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "sim_operator_identitynow_request_duration_seconds",
		Help:    "Duration of SIM API requests, by operation.",
		Buckets: prometheus.ExponentialBuckets(0.01, 2, 12),
	}, []string{"operation"})
	budgetWait = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "sim_operator_identitynow_budget_wait_seconds",
		Help:    "Time spent waiting for a slot in the shared rate budget before a SIM request.",
		Buckets: []float64{0.001, 0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60},
	})
	rateLimitedTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sim_operator_identitynow_rate_limited_total",
		Help: "429 responses received from the SIM API, by API release.",
	}, []string{"release"})
	tokenRequestsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sim_operator_identitynow_token_requests_total",
		Help: "OAuth2 token requests, by result (success, refused, error).",
	}, []string{"result"})
)

// Collectors returns the package's metric collectors.
func Collectors() []prometheus.Collector {
	return []prometheus.Collector{requestsTotal, requestDuration, budgetWait, rateLimitedTotal, tokenRequestsTotal}
}

// RegisterMetrics registers the package's metrics with reg, typically
// sigs.k8s.io/controller-runtime/pkg/metrics.Registry. Registering twice with
// the same registry is not an error.
func RegisterMetrics(reg prometheus.Registerer) error {
	for _, c := range Collectors() {
		if err := reg.Register(c); err != nil {
			if _, ok := errors.AsType[prometheus.AlreadyRegisteredError](err); !ok {
				return err
			}
		}
	}
	return nil
}

func codeLabel(status int) string {
	if status == 0 {
		return "transport_error"
	}
	return strconv.Itoa(status)
}
