#!/usr/bin/env bash
# Minified sizes against esbuild's whitespace-only minification (`esbuild --minify-whitespace`)
# on real unminified libraries (Debian's libjs-jquery, libjs-bootstrap4, libjs-lodash) and the
# demo site, with every JS output checked by `node --check` and run side by side with the
# original where it can run under node; then MB/s for each minifier and codec.
#
#   bash bench/assets-vs-esbuild.sh
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
for p in esbuild libjs-jquery libjs-bootstrap4 libjs-lodash nodejs; do dpkg -s "$p" >/dev/null 2>&1 || need+=("$p"); done
if [ ${#need[@]} -gt 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null; fi
swift build -c release --product outpost >/dev/null
bin=$(swift build -c release --show-bin-path)/outpost
work=$(mktemp -d /tmp/outpost-assets.XXXXXX)
trap 'rm -rf "$work"' EXIT

files=(/usr/share/javascript/jquery/jquery.js /usr/share/javascript/bootstrap4/js/bootstrap.js
       /usr/share/javascript/bootstrap4/css/bootstrap.css /usr/share/javascript/lodash/lodash.js
       origin/site/js/app.js origin/site/css/site.css origin/site/index.html)
printf "%-16s %10s %10s %10s %8s  %s\n" file original outpost esbuild ratio check
for f in "${files[@]}"; do
  [ -f "$f" ] || { echo "missing $f"; continue; }
  name=$(basename "$f")
  "$bin" minify "$f" > "$work/$name.outpost" 2>"$work/$name.note" || true
  case "$f" in
    *.js)  esbuild --minify-whitespace --log-level=error < "$f" > "$work/$name.esbuild" --loader=js ;;
    *.css) esbuild --minify-whitespace --log-level=error < "$f" > "$work/$name.esbuild" --loader=css ;;
    *)     cp "$f" "$work/$name.esbuild" ;;  # esbuild does not minify HTML
  esac
  check="-"
  if [[ "$f" == *.js ]]; then
    cp "$work/$name.outpost" "$work/$name.outpost.js"
    if node --check "$work/$name.outpost.js" 2>/dev/null; then check="node --check ok"; else check="node --check FAILED"; fi
  fi
  o=$(wc -c < "$f"); m=$(wc -c < "$work/$name.outpost"); e=$(wc -c < "$work/$name.esbuild")
  printf "%-16s %10d %10d %10d %8.3f  %s %s\n" "$name" "$o" "$m" "$e" "$(awk "BEGIN {print $m / $e}")" "$check" "$(cat "$work/$name.note")"
done
# lodash runs under node: same results from the original and the minified copy.
cat > "$work/run.js" <<'JS'
const _ = require(process.argv[2]);
console.log(JSON.stringify([_.chunk([1,2,3,4,5], 2), _.camelCase('Foo Bar'), _.uniq([2,1,2]), _.template('hi <%= n %>')({n: 'x'}), _.sortBy([{a:3},{a:1}], 'a')]));
JS
cp /usr/share/javascript/lodash/lodash.js "$work/orig-lodash.js"
cp "$work/lodash.js.outpost" "$work/min-lodash.js"
a=$(node "$work/run.js" "$work/orig-lodash.js"); b=$(node "$work/run.js" "$work/min-lodash.js")
[ "$a" = "$b" ] && echo "lodash original and minified agree: $a" || { echo "lodash DIFFERS: $a vs $b"; exit 1; }
echo
"$bin" assets-bench "${files[@]}"
