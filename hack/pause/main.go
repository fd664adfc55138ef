// Command pause is the pod sandbox's process for `make e2e-cluster`: it holds the pod's namespaces,
// reaps the children it inherits (with a shared process namespace it is PID 1) and exits on SIGTERM
// or SIGINT, as the Kubernetes pause container does. hack/ociimage packs it into the sandbox image
// named in containerd's sandbox_image, so no image has to be pulled.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	for sig := range sigs {
		if sig != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			var status syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
