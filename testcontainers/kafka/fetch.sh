#!/usr/bin/env bash
# Fetches Apache Kafka (the version in pom.xml), kafka-tools and log4j2 into a
# cache folder outside the repo, for the tests' local KRaft cluster
# (package testcontainers). Prints the folder on stdout; progress goes to
# stderr.
#
#   testcontainers/kafka/fetch.sh            # fetch unless complete
#   BRIDGE_KAFKA_CACHE=/some/dir testcontainers/kafka/fetch.sh
#
# The folder is complete when it holds the marker file .complete whose
# content is the sha256 of pom.xml: editing the pom (another version) makes
# the next run fetch again. Concurrent runs (several test binaries) are
# serialised with flock; the jars are downloaded to a scratch folder first and
# moved in only when Maven succeeded, so a broken download never looks
# complete.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
pom="$here/pom.xml"
version="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$pom" | head -n1)"
if [ -z "$version" ]; then
  echo "fetch.sh: no <kafka.version> in $pom" >&2
  exit 1
fi
dir="${BRIDGE_KAFKA_CACHE:-${HOME:?HOME is not set}/.cache/cxone-bridge/kafka-$version}"
want="$(sha256sum "$pom" | cut -d' ' -f1)"

complete() { [ -f "$dir/.complete" ] && [ "$(cat "$dir/.complete")" = "$want" ]; }

if complete; then
  echo "$dir"
  exit 0
fi

command -v mvn >/dev/null || { echo "fetch.sh: mvn not found on PATH (apt-get install maven)" >&2; exit 1; }
mkdir -p "$dir"
exec 9>"$dir.lock"
flock 9
if complete; then # another process fetched while we waited for the lock
  echo "$dir"
  exit 0
fi

echo "fetch.sh: fetching Apache Kafka $version into $dir" >&2
start=$(date +%s)
scratch="$(mktemp -d "$dir.partial.XXXXXX")"
trap 'rm -rf "$scratch"' EXIT
mvn -q -B -Dstyle.color=never -f "$pom" dependency:copy-dependencies -Dkafka.cache="$scratch" >&2
if ! ls "$scratch"/kafka_2.13-"$version".jar >/dev/null 2>&1; then
  echo "fetch.sh: Maven finished but $scratch has no kafka_2.13-$version.jar" >&2
  exit 1
fi
rm -rf "$dir/.complete" "$dir"/*.jar "$dir/cds" # cds/: class data archives of the old jars
mv "$scratch"/*.jar "$dir"/
echo "$want" >"$dir/.complete"
echo "fetch.sh: $(ls "$dir" | wc -l) jars in $(( $(date +%s) - start ))s" >&2
echo "$dir"
