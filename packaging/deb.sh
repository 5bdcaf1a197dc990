#!/usr/bin/env bash
# Build the Debian package (needs `cargo install cargo-deb --locked`):
#   packaging/deb.sh                 release build -> $CARGO_TARGET_DIR/debian/ringlb_*.deb
#   packaging/deb.sh dev -o FILE     the dev-profile binary the tests use (CI)
# Writes the man pages and shell completions, generated from the binary's own clap
# definitions (`ringlb man`, `ringlb completions`), next to the binary where the
# assets in Cargo.toml's [package.metadata.deb] expect them, then runs cargo deb
# without building again. RINGLB_DEB_NO_BUILD=1 skips the cargo build too.
set -euo pipefail
cd "$(dirname "$0")/.."
profile=release
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then
  profile=$1
  shift
fi
case $profile in dev | test) dir=debug ;; *) dir=$profile ;; esac
target=${CARGO_TARGET_DIR:-target}
if [ "${RINGLB_DEB_NO_BUILD:-0}" != 1 ]; then
  cargo build --profile "$profile" --bin ringlb
fi
bin=$target/$dir/ringlb
out=$target/$dir/packaging
rm -rf "$out"
mkdir -p "$out/completions"
"$bin" man "$out/man" >/dev/null
gzip -9nf "$out"/man/*.1
for shell in bash zsh fish; do
  case $shell in zsh) file=_ringlb ;; *) file=ringlb.$shell ;; esac
  "$bin" completions "$shell" >"$out/completions/$file"
done
fast=()
# A dev-profile package is for tests: strip the packaged copy (150 MB of debug info
# otherwise) and compress fast; cargo-deb warns that dev profiles are unusual.
[ "$profile" = release ] || fast=(--strip --fast)
exec cargo deb --no-build --profile "$profile" "${fast[@]}" "$@"
