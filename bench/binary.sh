# Sourced by the benchmarks (with `root` set): builds the guests, and sets `fb` to the flowbox
# binary to measure: FLOWBOX_BIN if given (e.g. an older build, for a before/after comparison),
# else this checkout's release build.
bash "$root/scripts/build-guests.sh" >&2
if [ -n "${FLOWBOX_BIN:-}" ]; then
  fb=$FLOWBOX_BIN
else
  (cd "$root" && cargo build --quiet --release -p flowbox)
  fb="$root/target/release/flowbox"
fi
