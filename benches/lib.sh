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
