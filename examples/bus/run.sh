#!/bin/sh
# The bus example's test: a daemon (plexus serve) in a fresh directory, bus_provider registering
# com.example.search, then bus_caller calling it by name. Usage: run.sh PLEXUS PROVIDER CALLER
set -eu
plexus=$1
provider=$2
caller=$3
dir=$(mktemp -d)
serve=
prov=
trap 'kill $prov $serve 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$dir"' EXIT
addr="unix://$dir/bus.sock"
"$plexus" serve --listen "$addr" --no-http >"$dir/serve.log" 2>&1 &
serve=$!
mkfifo "$dir/provider.out"
"$provider" "$addr" >"$dir/provider.out" &
prov=$!
exec 3<"$dir/provider.out"
# The provider waits for the daemon (wait_for_server) and says when its name is registered.
read -r line <&3
[ "$line" = "registered com.example.search" ] || { echo "provider: $line"; exit 1; }
"$caller" "$addr"
