# Shared by the bench scripts: source it after `cd` to the repository root.
# Gives $L (ringlb-load), $tmp (removed at exit), and `serve VAR [options]`, which starts
# a `ringlb-load serve` backend in this shell (so the exit trap stops it) and puts its
# address in VAR once it listens. Add other background PIDs to `pids` to have them
# stopped too.
L=./target/release/ringlb-load
tmp=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; rm -rf "$tmp"' EXIT

serve() {
  local var=$1; shift
  local out="$tmp/serve-${#pids[@]}"
  $L serve --listen 127.0.0.1:0 --threads 1 "$@" >"$out" &
  pids+=($!)
  for _ in $(seq 100); do [ -s "$out" ] && break; sleep 0.05; done
  local line; line=$(head -n1 "$out")
  printf -v "$var" '%s' "${line##* }"
}

# run_proxy BINARY CONFIG [wrapper...]: start ringlb on CONFIG (under the wrapper, e.g.
# valgrind) and wait for its readiness; sets px_pid and px_addr (its first listener).
# The "ringlb ready" line has been seen not to come under valgrind with io_uring (the
# worker started): start again, up to three times.
run_proxy() {
  local bin=$1 config=$2; shift 2
  for attempt in 1 2 3; do
    : >"$tmp/proxy.log"
    "$@" "$bin" run -c "$config" 2>"$tmp/proxy.log" &
    px_pid=$!
    for _ in $(seq 600); do grep -q "ringlb ready" "$tmp/proxy.log" && break; sleep 0.05; done
    grep -q "ringlb ready" "$tmp/proxy.log" && break
    echo "  (no readiness after 30 s, attempt $attempt: starting again)" >&2
    stop_proxy
  done
  grep -q "ringlb ready" "$tmp/proxy.log" || { cat "$tmp/proxy.log"; exit 1; }
  px_addr=$(grep -o "listening on [0-9.:]*" "$tmp/proxy.log" | head -n1 | awk '{print $3}')
}

stop_proxy() { kill -KILL "$px_pid" 2>/dev/null || true; wait "$px_pid" 2>/dev/null || true; }

# callgrind_per OUT N: stop counting in the proxy run under `valgrind --tool=callgrind
# --callgrind-out-file=OUT --instr-atstart=no` (after `callgrind_control -i on`),
# stop it, and print its instructions per unit of N.
callgrind_per() {
  local out=$1 n=$2
  callgrind_control -i off "$px_pid" >/dev/null 2>&1
  callgrind_control -d "$px_pid" >/dev/null 2>&1
  for _ in $(seq 600); do [ -s "$out.1" ] && break; sleep 0.1; done
  stop_proxy
  callgrind_annotate "$out.1" 2>/dev/null | awk -v n="$n" '/PROGRAM TOTALS/ {c=$1; gsub(",", "", c); printf "%.0f", c / n}'
}
