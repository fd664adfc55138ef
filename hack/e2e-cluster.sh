#!/usr/bin/env bash
# make e2e-cluster: runs sim-operator as users run it, on a real single-node cluster, and tears the
# cluster down again.
#
# It brings up etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubelet and kube-proxy
# (built from the Go module proxy by hack/envtest-assets.sh, NODE_BINARIES=1), containerd and runc
# with the bridge CNI plugins (Debian packages, installed when missing), makes the manager image and
# a pause image without a registry or a daemon (hack/build-manager.sh, hack/ociimage, `ctr images
# import`), and runs the in-cluster e2e suite (test/cluster, build tag e2ecluster) against it. On exit,
# also after a failure or Ctrl-C, it stops every process it started and removes the mounts, network
# interfaces, iptables rules and chains, netfilter accounting objects, cgroups and sysctl changes the
# cluster made, then checks that `ip link`, the routes, the mount table, iptables-save and the rest are
# as they were before it started (docs/e2e-cluster.md).
#
# Needs root (kubelet, containerd and CNI do). State lives outside the repository:
#   $E2E_CLUSTER_DIR (default ~/.cache/sim-operator/e2e-cluster)
#     run/      this run's cluster: PKI, etcd, containerd, kubelet; removed by the teardown
#     cache/    binaries and image archives, kept so the next run is warm
#     logs/     every process's log and the before/after snapshots, kept until the next run
#
# Usage: hack/e2e-cluster.sh              bring up, test, tear down (what `make e2e-cluster` runs)
#        hack/e2e-cluster.sh check        exit 0 when this machine can run it now (root, binaries built)
#        hack/e2e-cluster.sh teardown     clean up after a run that was killed before its own teardown
#        hack/e2e-cluster.sh restart-apiserver [DOWN_SECONDS]
#                                          stop and start the running cluster's kube-apiserver (the
#                                          e2e suite calls this)
# E2E_GO_TEST_FLAGS adds flags to `go test` (e.g. -run or -ginkgo.focus=...).
set -euo pipefail

REPO="$(cd "$(dirname "$0")/.." && pwd)"
K8S_VERSION="${K8S_VERSION:-1.37.2}"
ASSETS="${ENVTEST_ASSETS:-${XDG_DATA_HOME:-$HOME/.local/share}/kubebuilder-envtest/k8s/${K8S_VERSION}-linux-amd64}"
WORK="${E2E_CLUSTER_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/sim-operator/e2e-cluster}"
RUN="$WORK/run"
CACHE="$WORK/cache"
LOGS="$WORK/logs"
KUSTOMIZE="${KUSTOMIZE:-$REPO/bin/kustomize}"

NODE_NAME=sim-e2e
BRIDGE=sime2e0
POD_CIDR=10.244.0.0/24
SERVICE_CIDR=10.96.0.0/12
KUBERNETES_SERVICE_IP=10.96.0.1
APISERVER_PORT=6443
ETCD_CLIENT_PORT=23790
ETCD_PEER_PORT=23800
IMAGE=sim-operator:e2e
PAUSE_IMAGE=sim-operator-pause:e2e
NODE_BINARIES=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl etcd)
# Host sysctls that kubelet, kube-proxy or the bridge plugin may change; the teardown restores them.
SYSCTLS=(net.ipv4.ip_forward net.ipv6.conf.all.forwarding net.ipv4.conf.all.route_localnet
  net.bridge.bridge-nf-call-iptables net.bridge.bridge-nf-call-ip6tables vm.overcommit_memory
  vm.panic_on_oom kernel.panic kernel.panic_on_oops kernel.keys.root_maxkeys kernel.keys.root_maxbytes
  net.netfilter.nf_conntrack_max net.netfilter.nf_conntrack_tcp_timeout_established
  net.netfilter.nf_conntrack_tcp_timeout_close_wait net.netfilter.nf_conntrack_tcp_be_liberal)
# System paths the cluster may create; the teardown removes those that did not exist before.
SYSTEM_PATHS=(/run/containerd /run/netns /var/run/netns /var/lib/cni /etc/cni /opt/cni /var/lib/kubelet
  /var/log/pods /var/log/containers /var/lib/containerd /opt/containerd /etc/kubernetes /run/runc
  /run/mount)

T0=$SECONDS
log() { printf 'e2e-cluster [%3ds]: %s\n' "$((SECONDS - T0))" "$*" >&2; }
die() { log "error: $*"; exit 1; }

kubectl() { KUBECONFIG="$RUN/kube/admin.kubeconfig" KUBECACHEDIR="$RUN/kube/cache" "$ASSETS/kubectl" "$@"; }
ctr_() { ctr --address "$RUN/containerd/containerd.sock" --namespace k8s.io "$@"; }

# ---------------------------------------------------------------------------------------------------
# Processes: every daemon is started by start_daemon, which records its pid and start time, so that
# stop_daemon ends exactly that process (never one that reused the pid) and restart can start it with
# the same command line.

proc_start_time() { sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f20; }
proc_alive() {
  local pid=$1 want=${2:-} state
  state=$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1) || return 1
  [[ -n $state && $state != Z ]] || return 1
  [[ -z $want || "$(proc_start_time "$pid")" == "$want" ]]
}

start_daemon() {
  local name=$1; shift
  printf '%q ' "$@" > "$RUN/cmd/$name"
  "$@" </dev/null >>"$LOGS/$name.log" 2>&1 &
  local pid=$!
  echo "$pid $(proc_start_time "$pid")" > "$RUN/pids/$name"
}

restart_daemon() {
  local name=$1
  local -a cmd
  eval "cmd=($(cat "$RUN/cmd/$name"))"
  start_daemon "$name" "${cmd[@]}"
}

stop_daemon() {
  local name=$1 grace=${2:-15} pid start i
  [[ -f "$RUN/pids/$name" ]] || return 0
  read -r pid start < "$RUN/pids/$name"
  if proc_alive "$pid" "$start"; then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < grace * 10; i++)); do
      proc_alive "$pid" "$start" || break
      sleep 0.1
    done
    if proc_alive "$pid" "$start"; then
      log "$name (pid $pid) did not stop within ${grace}s of SIGTERM: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      for ((i = 0; i < 50; i++)); do proc_alive "$pid" "$start" || break; sleep 0.1; done
    fi
  fi
  wait "$pid" 2>/dev/null || true   # reaps it when it is this shell's child
  rm -f "$RUN/pids/$name"
}

daemon_running() {
  local pid start
  [[ -f "$RUN/pids/$1" ]] || return 1
  read -r pid start < "$RUN/pids/$1"
  proc_alive "$pid" "$start"
}

# wait_for DESCRIPTION SECONDS COMMAND...: polls COMMAND every half second.
wait_for() {
  local what=$1 timeout=$2 i; shift 2
  for ((i = 0; i < timeout * 2; i++)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.5
  done
  log "timed out after ${timeout}s waiting for $what"
  return 1
}

# ---------------------------------------------------------------------------------------------------
# Preflight and packages

host_ip() {
  if [[ -n ${E2E_HOST_IP:-} ]]; then echo "$E2E_HOST_IP"; return; fi
  ip -4 route get 192.0.2.255 2>/dev/null | sed -n 's/.* src \([0-9.]*\).*/\1/p' | head -n1
}

check() {
  local ok=0 b
  if [[ $(id -u) != 0 ]]; then echo "e2e-cluster: needs root (kubelet, containerd and CNI do)"; ok=1; fi
  if [[ $(uname -s)/$(uname -m) != Linux/x86_64 ]]; then echo "e2e-cluster: needs linux/amd64"; ok=1; fi
  for b in "${NODE_BINARIES[@]}"; do
    if [[ ! -x "$ASSETS/$b" ]]; then
      echo "e2e-cluster: $ASSETS/$b is not built (NODE_BINARIES=1 hack/envtest-assets.sh builds the node binaries, ~22 min cold on 2 cores)"
      ok=1
    fi
  done
  if [[ -z $(host_ip) ]]; then echo "e2e-cluster: no IPv4 address with a route (set E2E_HOST_IP)"; ok=1; fi
  return $ok
}

ensure_packages() {
  local missing=()
  command -v containerd >/dev/null && command -v ctr >/dev/null || missing+=(containerd)
  command -v runc >/dev/null || missing+=(runc)
  [[ -x /usr/lib/cni/bridge && -x /usr/lib/cni/host-local && -x /usr/lib/cni/portmap && -x /usr/lib/cni/loopback ]] ||
    missing+=(containernetworking-plugins)
  command -v iptables-save >/dev/null && command -v ip6tables-save >/dev/null || missing+=(iptables)
  command -v conntrack >/dev/null || missing+=(conntrack)
  # nft removes the nf_tables tables that iptables-nft leaves behind once their chains are gone, and
  # nfacct the netfilter accounting objects kube-proxy creates (ct_state_invalid_dropped_pkts, ...).
  command -v nft >/dev/null || missing+=(nftables)
  command -v nfacct >/dev/null || missing+=(nfacct)
  [[ ${#missing[@]} == 0 ]] && return
  log "installing ${missing[*]} from Debian (apt-get; about a minute)"
  # policy-rc.d keeps the packages from starting their services, should an init system be present.
  local policy=/usr/sbin/policy-rc.d created_policy=0
  if [[ ! -e $policy ]]; then printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod +x "$policy"; created_policy=1; fi
  local rc=0
  { DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"; } \
    >"$LOGS/apt-get.log" 2>&1 || rc=$?
  [[ $created_policy == 1 ]] && rm -f "$policy"
  [[ $rc == 0 ]] || { tail -n 20 "$LOGS/apt-get.log" >&2; die "apt-get install ${missing[*]} failed"; }
}

# ---------------------------------------------------------------------------------------------------
# Snapshots of the host state the cluster touches; the teardown compares against them.

snapshot() {
  local dir=$1 t
  mkdir -p "$dir"
  ip -o link show | sed 's/^[0-9]*: //; s/:.*//; s/@.*//' | sort > "$dir/links"
  awk '{print $5}' /proc/self/mountinfo | sort > "$dir/mounts"
  { ip -4 route show table all; ip -6 route show table all; } 2>/dev/null | sort > "$dir/routes" || true
  for t in iptables ip6tables; do
    "$t-save" > "$dir/$t.save" 2>/dev/null || true
    grep -v '^#' "$dir/$t.save" | sed 's/ \[[0-9]*:[0-9]*\]$//' > "$dir/$t" || true
  done
  if command -v nft >/dev/null; then nft list tables 2>/dev/null | sort > "$dir/nft-tables" || true; else : > "$dir/nft-tables"; fi
  if command -v nfacct >/dev/null; then
    nfacct list 2>/dev/null | sed -n 's/.* = \(.*\);$/\1/p' | sort > "$dir/nfacct" || true
  else
    : > "$dir/nfacct"
  fi
  : > "$dir/sysctls"
  for t in "${SYSCTLS[@]}"; do
    if v=$(sysctl -n "$t" 2>/dev/null); then echo "$t=$v" >> "$dir/sysctls"; fi
  done
  : > "$dir/paths"
  for t in "${SYSTEM_PATHS[@]}"; do [[ -e $t ]] && echo "$t" >> "$dir/paths"; done
  find /sys/fs/cgroup -mindepth 2 -maxdepth 2 -type d 2>/dev/null | sort > "$dir/cgroups" || true
  ls -A /run/netns 2>/dev/null | sort > "$dir/netns" || true
  iptables -S > "$dir/iptables-S" 2>&1 || true
  ip link > "$dir/ip-link" 2>&1 || true
  mount > "$dir/mount" 2>&1 || true
}

# Processes whose command line names this run's directory (a shim, a container of a killed pod, a
# daemon whose pid file was lost).
stray_pids() {
  local p
  for p in /proc/[0-9]*; do
    p=${p#/proc/}
    [[ $p == "$$" || $p == "$BASHPID" ]] && continue
    if { tr '\0' ' ' < "/proc/$p/cmdline"; } 2>/dev/null | grep -qF -- "$RUN/"; then echo "$p"; fi
  done
}

# ---------------------------------------------------------------------------------------------------
# Teardown: in order, each step tolerating the failure of the ones before it.

teardown() {
  set +e
  [[ -d $RUN ]] || return 0
  local before="$LOGS/before" i
  log "teardown: stopping the cluster"

  # 1. Let kubelet stop every pod (CNI DEL, netns and volume unmounts) while it still can.
  stop_daemon kube-controller-manager 10
  stop_daemon kube-scheduler 10
  if daemon_running kube-apiserver && daemon_running kubelet; then
    kubectl delete pods --all --all-namespaces --grace-period=2 --wait=true --timeout=60s >/dev/null 2>&1
    for ((i = 0; i < 60; i++)); do
      [[ -z $(ctr_ tasks ls -q 2>/dev/null) ]] && break
      sleep 0.5
    done
  fi
  stop_daemon kubelet 15
  stop_daemon kube-proxy 10

  # 2. Whatever containers are left (kubelet died first, say): kill them through containerd.
  if daemon_running containerd; then
    local id
    for id in $(ctr_ tasks ls -q 2>/dev/null); do ctr_ tasks kill -s SIGKILL "$id" >/dev/null 2>&1; done
    sleep 1
    for id in $(ctr_ tasks ls -q 2>/dev/null); do ctr_ tasks delete -f "$id" >/dev/null 2>&1; done
    for id in $(ctr_ containers ls -q 2>/dev/null); do ctr_ containers delete "$id" >/dev/null 2>&1; done
  fi
  stop_daemon containerd 15
  stop_daemon kube-apiserver 15
  stop_daemon etcd 15

  # 3. Processes left in the pods' cgroups, and shims or daemons that name the run directory.
  local cg pid
  for cg in /sys/fs/cgroup/*/kubepods*; do
    [[ -d $cg ]] || continue
    for pid in $(find "$cg" -name cgroup.procs -exec cat {} + 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
  done
  for pid in $(stray_pids); do
    log "teardown: killing stray process $pid: $({ tr '\0' ' ' < "/proc/$pid/cmdline"; } 2>/dev/null | cut -c1-120)"
    kill -KILL "$pid" 2>/dev/null
  done
  sleep 0.5

  # 4. Mounts: everything under the run directory, and network namespaces created since the start.
  local m
  for ((i = 0; i < 3; i++)); do
    for m in $(awk '{print $5}' /proc/self/mountinfo | grep -F -- "$RUN/" | awk '{print length, $0}' | sort -rn | cut -d' ' -f2-); do
      umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
    done
  done
  if [[ -d /run/netns ]]; then
    for m in $(ls -A /run/netns); do
      grep -qxF "$m" "$before/netns" 2>/dev/null && continue
      umount "/run/netns/$m" 2>/dev/null || umount -l "/run/netns/$m" 2>/dev/null
      rm -f "/run/netns/$m"
    done
  fi

  # 5. Network interfaces: the bridge and any veth left on it, if they were not there before.
  local l
  for l in $(ip -o link show | sed 's/^[0-9]*: //; s/:.*//; s/@.*//'); do
    grep -qxF "$l" "$before/links" 2>/dev/null && continue
    if [[ $l == "$BRIDGE" || $l == veth* ]]; then ip link delete "$l" 2>/dev/null; fi
  done
  conntrack -D -s "$POD_CIDR" >/dev/null 2>&1
  conntrack -D -d "$POD_CIDR" >/dev/null 2>&1

  # 6. iptables: every table as it was before (iptables-restore flushes a table it is given and
  #    deletes its user chains); a table that did not exist before is emptied, then deleted with nft;
  #    kube-proxy's accounting objects go once no rule refers to them.
  restore_iptables iptables "$before/iptables.save"
  restore_iptables ip6tables "$before/ip6tables.save"
  if command -v nft >/dev/null; then
    local fam name
    while read -r _ fam name; do
      [[ -n $name ]] || continue
      grep -qxF "table $fam $name" "$before/nft-tables" 2>/dev/null && continue
      nft delete table "$fam" "$name" 2>/dev/null
    done < <(nft list tables 2>/dev/null)
  fi

  if command -v nfacct >/dev/null; then
    local acct
    for acct in $(nfacct list 2>/dev/null | sed -n 's/.* = \(.*\);$/\1/p'); do
      grep -qxF "$acct" "$before/nfacct" 2>/dev/null || nfacct delete "$acct" 2>/dev/null
    done
  fi

  # 7. Sysctls, cgroups and system paths.
  local kv
  if [[ -f $before/sysctls ]]; then
    while IFS= read -r kv; do
      [[ "$(sysctl -n "${kv%%=*}" 2>/dev/null)" == "${kv#*=}" ]] || sysctl -q -w "$kv" >/dev/null 2>&1
    done < "$before/sysctls"
  fi
  for cg in $(find /sys/fs/cgroup -mindepth 2 -maxdepth 2 -type d -name 'kubepods*' 2>/dev/null); do
    grep -qxF "$cg" "$before/cgroups" 2>/dev/null && continue
    find "$cg" -depth -type d -exec rmdir {} \; 2>/dev/null
  done
  for m in "${SYSTEM_PATHS[@]}"; do
    [[ -e $m ]] || continue
    grep -qxF "$m" "$before/paths" 2>/dev/null && continue
    rm -rf --one-file-system "$m"
  done

  # 8. The run directory, once nothing is mounted under it.
  if awk '{print $5}' /proc/self/mountinfo | grep -qF -- "$RUN/"; then
    log "teardown: mounts remain under $RUN; not removing it"
  else
    rm -rf --one-file-system "${RUN:?}"
  fi
  set -e
}

restore_iptables() {
  local cmd=$1 saved=$2 table
  [[ -f $saved ]] || return 0
  for table in $("$cmd-save" 2>/dev/null | sed -n 's/^\*//p'); do
    if grep -qx "\*$table" "$saved"; then
      sed -n "/^\*$table\$/,/^COMMIT\$/p" "$saved" | "$cmd-restore" 2>/dev/null
    else
      printf '*%s\nCOMMIT\n' "$table" | "$cmd-restore" 2>/dev/null
    fi
  done
}

# verify_clean compares the host with the snapshot taken before the cluster started.
verify_clean() {
  local before="$LOGS/before" after="$LOGS/after" bad=0 what pids
  snapshot "$after"
  for what in links mounts routes iptables ip6tables nft-tables nfacct sysctls paths cgroups netns; do
    if ! diff -u "$before/$what" "$after/$what" > "$after/$what.diff" 2>&1; then
      log "teardown: $what differ from before the run:"
      sed 's/^/    /' "$after/$what.diff" >&2
      bad=1
    fi
  done
  pids=$(stray_pids)
  if [[ -n $pids ]]; then log "teardown: processes remain: $pids"; bad=1; fi
  if [[ -e $RUN ]]; then log "teardown: $RUN remains"; bad=1; fi
  if [[ $bad == 0 ]]; then
    log "teardown: clean (processes, mounts, links, iptables, sysctls, cgroups as before; snapshots in $LOGS)"
  fi
  return $bad
}

# ---------------------------------------------------------------------------------------------------
# Bring-up

build_images() {
  mkdir -p "$CACHE"
  log "building the manager binary (hack/build-manager.sh, as the Dockerfile does; the first -trimpath build takes minutes)"
  local t=$SECONDS
  "$REPO/hack/build-manager.sh" "$CACHE/manager.tmp" && mv "$CACHE/manager.tmp" "$CACHE/manager"
  ( cd "$REPO" && CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o "$CACHE/pause" ./hack/pause &&
    go build -o "$CACHE/ociimage" ./hack/ociimage &&
    go build -o "$CACHE/fake-identitynow" ./cmd/fake-identitynow )
  log "built the manager, pause, ociimage and the fake IdentityNow in $((SECONDS - t))s"
  "$CACHE/ociimage" --name "$IMAGE" --out "$CACHE/manager.tar" \
    --dockerfile "$REPO/Dockerfile" --built "/workspace/manager=$CACHE/manager" >&2
  "$CACHE/ociimage" --name "$PAUSE_IMAGE" --out "$CACHE/pause.tar" --ca-bundle "" \
    --file "$CACHE/pause=/pause" --entrypoint /pause --user 65535:65535 >&2
  log "writing the installer: make build-installer IMG=$IMAGE INSTALLER=$RUN/install.yaml"
  make -C "$REPO" -s --no-print-directory build-installer IMG="$IMAGE" INSTALLER="$RUN/install.yaml" >&2
}

# cert NAME CN ORG EXTENDED_KEY_USAGE [SUBJECT_ALT_NAMES]: an ECDSA key and a certificate of the CA.
cert() {
  local name=$1 cn=$2 org=$3 eku=$4 san=${5:-} subj
  subj="/CN=$cn"; [[ -n $org ]] && subj="/O=$org$subj"
  openssl ecparam -name prime256v1 -genkey -noout -out "$PKI/$name.key" 2>/dev/null
  openssl req -new -key "$PKI/$name.key" -subj "$subj" -out "$PKI/$name.csr" 2>/dev/null
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=$eku"
    [[ -n $san ]] && echo "subjectAltName=$san"
  } > "$PKI/$name.ext"
  openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -set_serial "0x$(openssl rand -hex 8)" \
    -days 2 -extfile "$PKI/$name.ext" -out "$PKI/$name.crt" 2>/dev/null
  rm -f "$PKI/$name.csr" "$PKI/$name.ext"
}

kubeconfig() {
  local file=$1 user=$2 certname=$3
  cat > "$file" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: $NODE_NAME
  cluster:
    server: https://$HOST_IP:$APISERVER_PORT
    certificate-authority: $PKI/ca.crt
users:
- name: $user
  user:
    client-certificate: $PKI/$certname.crt
    client-key: $PKI/$certname.key
contexts:
- name: $NODE_NAME
  context: {cluster: $NODE_NAME, user: $user}
current-context: $NODE_NAME
EOF
}

write_pki() {
  PKI="$RUN/pki"
  mkdir -p "$PKI" "$RUN/kube"
  openssl ecparam -name prime256v1 -genkey -noout -out "$PKI/ca.key" 2>/dev/null
  openssl req -x509 -new -key "$PKI/ca.key" -subj "/CN=sim-e2e-ca" -days 2 -out "$PKI/ca.crt" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
  cert apiserver kube-apiserver "" serverAuth \
    "IP:$HOST_IP,IP:$KUBERNETES_SERVICE_IP,IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
  cert apiserver-kubelet-client kube-apiserver-kubelet-client system:masters clientAuth
  cert admin e2e-admin system:masters clientAuth
  cert kube-controller-manager system:kube-controller-manager "" clientAuth
  cert kube-scheduler system:kube-scheduler "" clientAuth
  cert kubelet "system:node:$NODE_NAME" system:nodes clientAuth
  cert kube-proxy system:kube-proxy "" clientAuth
  openssl ecparam -name prime256v1 -genkey -noout -out "$PKI/sa.key" 2>/dev/null
  openssl ec -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
  chmod 600 "$PKI"/*.key
  local c
  for c in admin kube-controller-manager kube-scheduler kubelet kube-proxy; do
    kubeconfig "$RUN/kube/$c.kubeconfig" "$c" "$c"
  done
}

write_configs() {
  mkdir -p "$RUN/containerd" "$RUN/cni/net.d" "$RUN/cni/ipam" "$RUN/kubelet" "$RUN/pod-logs"
  cat > "$RUN/containerd/config.toml" <<EOF
version = 2
root = "$RUN/containerd/root"
state = "$RUN/containerd/state"
temp = "$RUN/containerd/tmp"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs", "io.containerd.tracing.processor.v1.otlp"]
[grpc]
  address = "$RUN/containerd/containerd.sock"
[ttrpc]
  address = "$RUN/containerd/containerd.sock.ttrpc"
[debug]
  address = "$RUN/containerd/debug.sock"
[plugins]
  [plugins."io.containerd.internal.v1.opt"]
    path = "$RUN/containerd/opt"
  [plugins."io.containerd.grpc.v1.cri"]
    sandbox_image = "$PAUSE_IMAGE"
    # Root here lacks CAP_SYS_RESOURCE: no process may lower its oom_score_adj, runc included.
    restrict_oom_score_adj = true
    netns_mounts_under_state_dir = true
    stream_server_address = "127.0.0.1"
    stream_server_port = "0"
    [plugins."io.containerd.grpc.v1.cri".cni]
      bin_dir = "/usr/lib/cni"
      conf_dir = "$RUN/cni/net.d"
    [plugins."io.containerd.grpc.v1.cri".containerd]
      snapshotter = "overlayfs"
      default_runtime_name = "runc"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
        [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
          SystemdCgroup = false
          Root = "$RUN/runc"
EOF
  cat > "$RUN/cni/net.d/10-$NODE_NAME.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "$NODE_NAME",
  "plugins": [
    {
      "type": "bridge", "bridge": "$BRIDGE", "isGateway": true, "ipMasq": true, "hairpinMode": true,
      "ipam": {
        "type": "host-local", "dataDir": "$RUN/cni/ipam",
        "ranges": [[{"subnet": "$POD_CIDR"}]], "routes": [{"dst": "0.0.0.0/0"}]
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF
  cat > "$RUN/kubelet/config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# cgroup v1 here; kubelet 1.37 refuses it unless told.
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
containerRuntimeEndpoint: unix://$RUN/containerd/containerd.sock
address: $HOST_IP
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $PKI/ca.crt}
authorization: {mode: Webhook}
podLogsDir: $RUN/pod-logs
# The host's disk level must not evict the pods or collect the imported images.
evictionHard: {memory.available: 100Mi, nodefs.available: 1%, nodefs.inodesFree: 1%, imagefs.available: 1%}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
resolvConf: /etc/resolv.conf
EOF
  cat > "$RUN/kube/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clusterCIDR: $POD_CIDR
hostnameOverride: $NODE_NAME
clientConnection: {kubeconfig: $RUN/kube/kube-proxy.kubeconfig}
metricsBindAddress: 127.0.0.1:10249
healthzBindAddress: 127.0.0.1:10256
# Leave the host's conntrack sysctls and route_localnet alone.
conntrack: {maxPerCore: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
iptables: {localhostNodePorts: false}
EOF
}

start_cluster() {
  local a="$ASSETS" p="$PKI" k="$RUN/kube"
  log "starting etcd and kube-apiserver on $HOST_IP:$APISERVER_PORT"
  start_daemon etcd "$a/etcd" --name "$NODE_NAME" --data-dir "$RUN/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_CLIENT_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_CLIENT_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "$NODE_NAME=http://127.0.0.1:$ETCD_PEER_PORT" --unsafe-no-fsync --log-level warn
  start_daemon kube-apiserver "$a/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$ETCD_CLIENT_PORT" \
    --advertise-address "$HOST_IP" --bind-address "$HOST_IP" --secure-port "$APISERVER_PORT" \
    --tls-cert-file "$p/apiserver.crt" --tls-private-key-file "$p/apiserver.key" --client-ca-file "$p/ca.crt" \
    --kubelet-client-certificate "$p/apiserver-kubelet-client.crt" --kubelet-client-key "$p/apiserver-kubelet-client.key" \
    --kubelet-preferred-address-types InternalIP \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$p/sa.pub" --service-account-signing-key-file "$p/sa.key" \
    --service-cluster-ip-range "$SERVICE_CIDR" \
    --authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction \
    --profiling=false --v=1
  wait_for "kube-apiserver /readyz" 90 kubectl get --raw /readyz || return 1
  log "starting containerd and importing $IMAGE and $PAUSE_IMAGE"
  start_daemon containerd containerd --config "$RUN/containerd/config.toml"
  wait_for "containerd" 30 ctr_ version || return 1
  ctr_ images import "$CACHE/pause.tar" >/dev/null
  ctr_ images import "$CACHE/manager.tar" >/dev/null
  log "starting kube-controller-manager, kube-scheduler, kubelet and kube-proxy"
  # --controllers '*': 1.37 exits when told to leave out cloud controllers it does not know.
  start_daemon kube-controller-manager "$a/kube-controller-manager" --kubeconfig "$k/kube-controller-manager.kubeconfig" \
    --authentication-kubeconfig "$k/kube-controller-manager.kubeconfig" --authorization-kubeconfig "$k/kube-controller-manager.kubeconfig" \
    --controllers '*' --use-service-account-credentials \
    --service-account-private-key-file "$p/sa.key" --root-ca-file "$p/ca.crt" \
    --cluster-signing-cert-file "$p/ca.crt" --cluster-signing-key-file "$p/ca.key" \
    --service-cluster-ip-range "$SERVICE_CIDR" --leader-elect=false --bind-address 127.0.0.1 --v=1
  start_daemon kube-scheduler "$a/kube-scheduler" --kubeconfig "$k/kube-scheduler.kubeconfig" \
    --authentication-kubeconfig "$k/kube-scheduler.kubeconfig" --authorization-kubeconfig "$k/kube-scheduler.kubeconfig" \
    --leader-elect=false --bind-address 127.0.0.1 --v=1
  start_daemon kubelet "$a/kubelet" --config "$RUN/kubelet/config.yaml" --kubeconfig "$k/kubelet.kubeconfig" \
    --root-dir "$RUN/kubelet" --hostname-override "$NODE_NAME" --node-ip "$HOST_IP" --v=1
  start_daemon kube-proxy "$a/kube-proxy" --config "$k/kube-proxy.yaml" --v=1
  wait_for "node $NODE_NAME to register" 90 kubectl get node "$NODE_NAME" || return 1
  kubectl wait --for=condition=Ready "node/$NODE_NAME" --timeout=120s >/dev/null || return 1
  wait_for "the default ServiceAccount" 60 kubectl get serviceaccount default -n default || return 1
  wait_for "kube-proxy's rules for the kubernetes Service" 60 \
    bash -c "iptables -t nat -S KUBE-SERVICES 2>/dev/null | grep -q 'default/kubernetes:https'" || return 1
  log "node $NODE_NAME is Ready"
}

run_tests() {
  log "running the in-cluster e2e suite (go test -tags e2ecluster ./test/cluster)"
  local -a flags
  read -r -a flags <<< "${E2E_GO_TEST_FLAGS:-}"
  # -race shares the build cache of `make test` (GO_TEST_FLAGS=-race), so the suite compiles quickly.
  ( cd "$REPO" && E2E_KUBECONFIG="$RUN/kube/admin.kubeconfig" E2E_KUBECTL="$ASSETS/kubectl" E2E_HOST_IP="$HOST_IP" \
    E2E_IMAGE="$IMAGE" E2E_INSTALL_YAML="$RUN/install.yaml" E2E_FAKE_BIN="$CACHE/fake-identitynow" \
    E2E_LOG_DIR="$LOGS" E2E_CLUSTER_SCRIPT="$REPO/hack/e2e-cluster.sh" E2E_CLUSTER_DIR="$WORK" \
    KUBECACHEDIR="$RUN/kube/cache" \
    go test -race -tags e2ecluster -count=1 -timeout 25m -v ./test/cluster/ "${flags[@]}" )
}

on_exit() {
  local rc=$?
  trap - EXIT INT TERM
  if [[ $rc != 0 ]]; then
    log "FAILED (exit $rc); logs of every process are in $LOGS"
    local f
    for f in kubelet containerd kube-apiserver; do
      [[ -f $LOGS/$f.log ]] && { log "last lines of $f.log:"; tail -n 8 "$LOGS/$f.log" | cut -c1-300 >&2; }
    done
  fi
  local t=$SECONDS
  if [[ -d $RUN ]]; then
    # What the teardown has to undo, for the record: compare with before/ and after/.
    snapshot "$LOGS/during"
    log "before the teardown: $(wc -l < "$LOGS/during/links") links (before the run: $(wc -l < "$LOGS/before/links")), $(wc -l < "$LOGS/during/mounts") mounts ($(wc -l < "$LOGS/before/mounts")), $(cat "$LOGS/during/iptables" "$LOGS/during/ip6tables" | grep -c '^:') iptables chains ($(cat "$LOGS/before/iptables" "$LOGS/before/ip6tables" | grep -c '^:'))"
  fi
  teardown
  local clean=0
  verify_clean || clean=$?
  log "teardown took $((SECONDS - t))s"
  if [[ $rc == 0 && $clean != 0 ]]; then rc=3; fi
  if [[ $rc == 0 ]]; then log "PASSED in $((SECONDS - T0))s"; fi
  exit "$rc"
}

main() {
  check >&2 || die "this machine cannot run the cluster now (see above)"
  mkdir -p "$WORK" "$CACHE" "$LOGS"
  if [[ -e $RUN ]]; then
    log "a previous run left $RUN behind (killed before its teardown?): cleaning it up first"
    teardown
    verify_clean || die "could not clean up after the previous run"
  fi
  ensure_packages
  HOST_IP=$(host_ip)
  find "$LOGS" -mindepth 1 -delete
  snapshot "$LOGS/before"
  mkdir -p "$RUN/cmd" "$RUN/pids"
  trap on_exit EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  build_images
  write_pki
  write_configs
  start_cluster
  run_tests
}

case "${1:-}" in
  "") main ;;
  check) check ;;
  teardown)
    [[ -e $RUN ]] || { echo "e2e-cluster: nothing to tear down ($RUN does not exist)"; exit 0; }
    teardown; verify_clean ;;
  restart-apiserver)
    [[ -f $RUN/pids/kube-apiserver ]] || die "no running cluster in $RUN"
    # SIGTERM closes the listener at once; the process then waits for open watch streams (up to
    # --request-timeout), so after 5 seconds it is killed.
    stop_daemon kube-apiserver 5
    log "kube-apiserver stopped"
    sleep "${2:-0}"
    restart_daemon kube-apiserver
    wait_for "kube-apiserver /readyz" 90 kubectl get --raw /readyz
    log "kube-apiserver restarted" ;;
  *) echo "usage: $0 [check|teardown|restart-apiserver [DOWN_SECONDS]]" >&2; exit 2 ;;
esac
