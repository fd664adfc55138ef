package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// apiserverLoad is what kube-apiserver did: its CPU time and the writes it served, by resource,
// subresource and verb ("simintegrations/status PATCH").
type apiserverLoad struct {
	cpuSeconds float64
	writes     map[string]float64
}

// readAPIServerLoad scrapes kube-apiserver's own /metrics.
func readAPIServerLoad(ctx context.Context, cfg *rest.Config) (apiserverLoad, error) {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return apiserverLoad{}, err
	}
	raw, err := cs.Discovery().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return apiserverLoad{}, err
	}
	load := apiserverLoad{writes: map[string]float64{}}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		i := strings.LastIndexByte(line, ' ')
		if i < 0 || strings.HasPrefix(line, "#") {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		switch {
		case strings.HasPrefix(line, "process_cpu_seconds_total "):
			load.cpuSeconds = v
		case strings.HasPrefix(line, "apiserver_request_total{"):
			verb := label(line, "verb")
			if verb != "POST" && verb != "PUT" && verb != "PATCH" && verb != "DELETE" && verb != "APPLY" && verb != "CREATE" && verb != "UPDATE" {
				continue
			}
			key := label(line, "resource")
			if sub := label(line, "subresource"); sub != "" {
				key += "/" + sub
			}
			load.writes[key+" "+verb] += v
		}
	}
	return load, sc.Err()
}

func label(line, name string) string {
	i := strings.Index(line, name+`="`)
	if i < 0 {
		return ""
	}
	value := line[i+len(name)+2:]
	return value[:strings.IndexByte(value, '"')]
}

// since describes the load between two readings, per created object.
func (a apiserverLoad) since(before apiserverLoad, objects int) string {
	var parts []string
	total := 0.0
	for k, v := range a.writes {
		if d := v - before.writes[k]; d >= float64(objects)/20 {
			parts = append(parts, fmt.Sprintf("%s %.2f", k, d/float64(objects)))
			total += d
		}
	}
	slices.Sort(parts)
	return fmt.Sprintf("kube-apiserver: %.0f CPU-seconds, %.2f writes per object (%s)",
		a.cpuSeconds-before.cpuSeconds, total/float64(objects), strings.Join(parts, ", "))
}
