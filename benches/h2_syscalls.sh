#!/usr/bin/env bash
# System calls per HTTP/2 request: h2_cost.sh's set-up counted with `strace -c`
# (see COUNT=syscalls there). Usage: bash benches/h2_syscalls.sh [N] [C] [M] [BODY]
exec env COUNT=syscalls bash "$(dirname "$0")/h2_cost.sh" "$@"
