#!/usr/bin/env bash
# Runs every libFuzzer target in fuzz/ (the pure parsers and validators of
# crates/authnz-core) for a bounded time each.
#
#   bash scripts/fuzz.sh                 # every target, 60 s each
#   FUZZ_SECONDS=300 bash scripts/fuzz.sh
#   bash scripts/fuzz.sh require_words credentials   # only these targets
#   bash scripts/fuzz.sh --list
#
# Environment: FUZZ_SECONDS (per target, default 60), FUZZ_JOBS (parallel
# libFuzzer jobs per target, default 1), FUZZ_SANITIZER (address, the
# default, or none for speed).
#
# cargo-fuzz needs unstable compiler flags (-Zsanitizer, sanitizer
# coverage). With only the stable toolchain installed, RUSTC_BOOTSTRAP=1
# unlocks them; a nightly toolchain is used instead when rustup has one.
# Findings are left in fuzz/artifacts/<target>/ and make the script exit 1;
# the corpus grows in fuzz/corpus/<target>/ (seeds: fuzz/seeds/<target>/).
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

seconds="${FUZZ_SECONDS:-60}"
jobs="${FUZZ_JOBS:-1}"
sanitizer="${FUZZ_SANITIZER:-address}"

if ! command -v cargo-fuzz >/dev/null 2>&1 && [ ! -x "$HOME/.cargo/bin/cargo-fuzz" ]; then
    echo "== installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi
export PATH="$HOME/.cargo/bin:$PATH"

toolchain=()
if rustup run nightly rustc -V >/dev/null 2>&1 && [ -z "${FUZZ_STABLE:-}" ]; then
    toolchain=(+nightly)
else
    export RUSTC_BOOTSTRAP=1
fi

all_targets=$(cargo "${toolchain[@]}" fuzz list)
if [ "${1:-}" = "--list" ]; then
    echo "$all_targets"
    exit 0
fi
targets=("$@")
[ ${#targets[@]} -eq 0 ] && mapfile -t targets <<<"$all_targets"

echo "== building ${#targets[@]} targets (sanitizer: $sanitizer, toolchain: ${toolchain[*]:-stable with RUSTC_BOOTSTRAP=1})"
cargo "${toolchain[@]}" fuzz build -O -s "$sanitizer"

failed=()
summary=()
for target in "${targets[@]}"; do
    mkdir -p "corpus/$target"
    corpora=("corpus/$target")
    [ -d "seeds/$target" ] && corpora+=("seeds/$target")
    log=$(mktemp)
    echo "== $target: ${seconds}s"
    parallel=()
    [ "$jobs" -gt 1 ] && parallel=(-jobs="$jobs" -workers="$jobs")
    set +e
    cargo "${toolchain[@]}" fuzz run -O -s "$sanitizer" "$target" "${corpora[@]}" -- \
        -max_total_time="$seconds" -print_final_stats=1 "${parallel[@]}" >"$log" 2>&1
    rc=$?
    set -e
    # With -jobs>1 libFuzzer writes fuzz-N.log files in the current dir.
    cat fuzz-*.log >>"$log" 2>/dev/null && rm -f fuzz-*.log
    runs=$(grep -E '^stat::number_of_executed_units' "$log" | awk '{s+=$2} END {print s+0}')
    cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | awk '{print $2}')
    if [ $rc -ne 0 ] || grep -qE 'ERROR: libFuzzer|panicked at' "$log"; then
        failed+=("$target")
        summary+=("$target: FAILED after $runs runs (rc $rc), see fuzz/artifacts/$target/")
        grep -E 'panicked at|assertion|ERROR|SUMMARY|Test unit written' "$log" | head -20
    else
        summary+=("$target: ok, $runs runs in ${seconds}s, coverage ${cov:-?}, corpus $(ls "corpus/$target" | wc -l) inputs")
    fi
    rm -f "$log"
done

echo "== summary"
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -ne 0 ]; then
    echo "findings in: ${failed[*]}"
    exit 1
fi
