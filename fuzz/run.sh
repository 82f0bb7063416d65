#!/usr/bin/env bash
# Runs every fuzz target for SECONDS (default 25) each, one after another, and
# prints the executions libFuzzer reports per target. Exits non-zero when any
# target crashes (the input lands in fuzz/artifacts/<target>/) or fails to run.
#
# Committed seeds (fuzz/seeds/<target>) are read; new corpus entries go to
# fuzz/corpus/<target>-work, which git ignores. Logs: fuzz/corpus/<target>.log.
#
# The machine has only a stable toolchain, so RUSTC_BOOTSTRAP=1 lets
# cargo-fuzz pass its nightly flags. SANITIZER=address (default) or none.
set -uo pipefail

seconds="${1:-25}"
sanitizer="${SANITIZER:-address}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked || cargo install cargo-fuzz || {
        echo "cannot install cargo-fuzz" >&2
        exit 2
    }
fi

targets=$(cargo fuzz list) || exit 2
if ! cargo fuzz build -s "$sanitizer"; then
    if [ "$sanitizer" = none ]; then
        echo "cargo fuzz build failed" >&2
        exit 2
    fi
    echo "build with -s $sanitizer failed; retrying with -s none" >&2
    sanitizer=none
    cargo fuzz build -s none || exit 2
fi

mkdir -p fuzz/corpus
status=0
rows=()
for t in $targets; do
    work="fuzz/corpus/$t-work"
    log="fuzz/corpus/$t.log"
    mkdir -p "$work"
    echo "== $t (${seconds}s, sanitizer $sanitizer)" >&2
    # Inputs that once crashed a target (fuzz/regressions/<target>) are
    # replayed first, with the seeds.
    extra=()
    [ -d "fuzz/regressions/$t" ] && extra+=("fuzz/regressions/$t")
    cargo fuzz run -s "$sanitizer" "$t" "$work" "fuzz/seeds/$t" "${extra[@]}" -- \
        -max_total_time="$seconds" -timeout=10 -print_final_stats=1 >"$log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$log" | tail -n1)
    [ -n "$execs" ] || execs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$log" | tail -n1)
    [ -n "$execs" ] || execs=$(grep -o '^#[0-9]*' "$log" | tail -n1 | tr -d '#')
    if [ "$rc" -eq 0 ]; then
        result=ok
    else
        if grep -q "Test unit written to" "$log"; then
            result="CRASH (exit $rc, see $log)"
        else
            result="FAILED (exit $rc, see $log)"
        fi
        status=1
        grep -m1 -E "panicked at|ERROR: (AddressSanitizer|libFuzzer)" "$log" >&2 || true
        grep -m1 "Test unit written to" "$log" >&2 || true
    fi
    rows+=("$(printf '%-20s %12s  %s' "$t" "${execs:-?}" "$result")")
done

printf '\n%-20s %12s  %s\n' target executions result
printf '%s\n' "${rows[@]}"
exit "$status"
