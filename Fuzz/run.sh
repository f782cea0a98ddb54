#!/usr/bin/env bash
# Fuzz/run.sh TARGET [SECONDS]
#
# Builds `portrait-fuzz` (release) with libFuzzer and AddressSanitizer (its own build directory,
# .build-fuzz, so it never disturbs `swift build`) and fuzzes TARGET for SECONDS (default 60),
# starting from the seed corpus and the saved crash inputs under Tests/FuzzCorpus/TARGET/.
# New interesting inputs go to .build-fuzz/corpus/TARGET (kept between runs, never committed).
#
# Exit status 0 when the time ran out without a crash; 1 on a crash, a property violation, a
# timeout (an input taking more than 10 s) or running out of memory: the input that did it is
# left under .build-fuzz/crashes/TARGET/ and its path printed. To keep it as a regression test,
# copy it to Tests/FuzzCorpus/TARGET/regressions/ (PortraitFuzzTests replays that directory in
# every `swift test`); reproduce with `swift run portrait-fuzz TARGET FILE`.
#
# Targets: http-request-parser, portrait-decoder, configuration, or `all` (SECONDS each).
set -uo pipefail
cd "$(dirname "$0")/.."

targets=(http-request-parser portrait-decoder configuration)
usage() { echo "usage: Fuzz/run.sh {$(IFS='|'; echo "${targets[*]}")|all} [SECONDS]" >&2; exit 2; }
[ $# -ge 1 ] || usage
seconds=${2:-60}
[[ "$seconds" =~ ^[0-9]+$ ]] || usage
if [ "$1" = all ]; then
  selected=("${targets[@]}")
else
  [[ " ${targets[*]} " == *" $1 "* ]] || usage
  selected=("$1")
fi

scratch=.build-fuzz
# Release: about 100 times the executions per second of a debug build (bounds and overflow
# checks stay on; only `assert` goes).
# `--sanitize=fuzzer` makes SwiftPM link libFuzzer's main; the sanitizers themselves go in one
# `-sanitize=fuzzer,address` flag, because of two separate `-sanitize=` flags the Swift 6.3
# driver passes only the last to the compiler (`--sanitize=fuzzer --sanitize=address` would
# build without coverage instrumentation, and the fuzzer would be blind).
build=(swift build -c release --product portrait-fuzz --sanitize=fuzzer -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING
       --scratch-path "$scratch")
echo "fuzz: ${build[*]}"
"${build[@]}" || { echo "fuzz: build failed" >&2; exit 1; }
binary="$("${build[@]}" --show-bin-path)/portrait-fuzz"

# libFuzzer only writes crash files when Swift's own backtracer stays out of the way.
export SWIFT_BACKTRACE=enable=no
failed=0
for target in "${selected[@]}"; do
  case "$target" in
    http-request-parser) dict=Fuzz/http.dict ;;
    *) dict=Fuzz/json.dict ;;
  esac
  corpus="$scratch/corpus/$target"
  crashes="$scratch/crashes/$target"
  mkdir -p "$corpus" "$crashes" "Tests/FuzzCorpus/$target/regressions"
  marker="$scratch/crashes/.started-$target"
  touch "$marker"
  sleep 1  # so that files written from now on are strictly newer than the marker
  echo "fuzz: $target for ${seconds}s"
  PORTRAIT_FUZZ_TARGET="$target" "$binary" \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
    -dict="$dict" -artifact_prefix="$crashes/" -print_final_stats=1 \
    "$corpus" "Tests/FuzzCorpus/$target/seeds" "Tests/FuzzCorpus/$target/regressions"
  status=$?
  found=$(find "$crashes" -type f -newer "$marker")
  if [ "$status" -ne 0 ] || [ -n "$found" ]; then
    failed=1
    echo "fuzz: $target FAILED (libFuzzer exit status $status); inputs that did it:" >&2
    echo "${found:-  (none written)}" | sed 's/^/  /' >&2
    echo "fuzz: keep one as a regression test: cp FILE Tests/FuzzCorpus/$target/regressions/" >&2
  else
    echo "fuzz: $target: no crash in ${seconds}s"
  fi
done
exit "$failed"
