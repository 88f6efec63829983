#!/usr/bin/env bash
# Installs, idempotently, what building step components needs on Debian 12 (x86_64), using only
# the package registries: Debian's rustc-web/cargo-web 1.96 with the standard library's sources
# (std is rebuilt for wasm32-wasip2 with -Zbuild-std), lld-22 as the linker, Debian's wasi-libc.
# `rustup target add` cannot work here (no route to its server), hence this route.
set -euo pipefail
need=()
for p in rustc-web cargo-web rust-web-src rust-web-llvm lld-22 wasi-libc; do
  dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq -t bookworm-security rustc-web cargo-web rust-web-src rust-web-llvm lld-22
  $SUDO apt-get install -y -qq wasi-libc
fi
/usr/bin/rustc --version | grep -q '^rustc 1\.96' || { echo "guest toolchain: need rustc-web 1.96 (bookworm-security)" >&2; exit 1; }
test -d /usr/lib/rustlib/src/rust/library/std || { echo "guest toolchain: rust-web-src missing" >&2; exit 1; }
test -x /usr/lib/rustlib/x86_64-unknown-linux-gnu/bin/wasm-component-ld || { echo "guest toolchain: wasm-component-ld missing (rust-web-llvm)" >&2; exit 1; }
readlink -e /usr/bin/rust-lld >/dev/null || { echo "guest toolchain: /usr/bin/rust-lld dangles: install lld-22" >&2; exit 1; }
test -f /usr/lib/wasm32-wasi/libc.a || { echo "guest toolchain: wasi-libc missing" >&2; exit 1; }
