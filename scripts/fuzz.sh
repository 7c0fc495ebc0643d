#!/usr/bin/env bash
# Runs every libFuzzer target built into a bin directory (default build-fuzz/bin) for
# FUZZ_SECONDS seconds each (default 60). Seeds come from fuzz/corpus/NAME and stay
# untouched: new inputs go to a scratch corpus under FUZZ_WORK (default a temp dir), and
# so do crash artifacts. Exits non-zero when any target crashed or failed to run.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
bin="${1:-$root/build-fuzz/bin}"
seconds="${FUZZ_SECONDS:-60}"
work="${FUZZ_WORK:-$(mktemp -d -t cc-fuzz.XXXXXX)}"

if [ ! -d "$bin" ]; then
  echo "fuzz: no bin directory $bin (build with: make fuzz)" >&2
  exit 2
fi

shopt -s nullglob
targets=("$bin"/fuzz_*)
if [ "${#targets[@]}" -eq 0 ]; then
  echo "fuzz: no fuzz_* targets in $bin" >&2
  exit 2
fi

failed=()
for t in "${targets[@]}"; do
  [ -x "$t" ] || continue
  name="$(basename "$t")"
  seeds="$root/fuzz/corpus/$name"
  mkdir -p "$seeds" "$work/$name/corpus" "$work/$name/artifacts"
  args=(-max_total_time="$seconds" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048
        -artifact_prefix="$work/$name/artifacts/")
  if [ -f "$root/fuzz/$name.dict" ]; then
    args+=(-dict="$root/fuzz/$name.dict")
  fi
  echo "fuzz: $name for ${seconds}s (seeds $seeds, scratch $work/$name)"
  if ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}" \
     UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}" \
     "$t" "${args[@]}" "$work/$name/corpus" "$seeds" >"$work/$name/log" 2>&1; then
    grep -E '^stat::number_of_executed_units|^Done ' "$work/$name/log" | sed "s/^/fuzz: $name: /" || true
  else
    echo "fuzz: $name FAILED; log $work/$name/log, artifacts $work/$name/artifacts" >&2
    tail -n 40 "$work/$name/log" >&2
    failed+=("$name")
  fi
done

if [ "${#failed[@]}" -ne 0 ]; then
  echo "fuzz: crashes in: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz: all ${#targets[@]} targets ran ${seconds}s without a crash"
