#!/usr/bin/env bash
# Installs the Debian 12 packages plexus needs, and only those that are missing.
# Runs as root directly, or through sudo when it is there; prints what it installs.
set -euo pipefail

packages=(
  build-essential cmake pkg-config ninja-build
  lld                               # links ~3x faster than GNU ld (CMakeLists.txt)
  doxygen                           # make docs: the API reference from the public headers
  help2man dpkg-dev lintian         # make package: the man page, the .deb and its checks
  libsystemd-dev                    # socket activation (plexus serve under a systemd .socket)
  libtomlplusplus-dev               # plexus serve --config plexus.toml, access policies
  libsodium-dev                     # Ed25519 tokens (plexus token, TokenVerifier)
  libssl-dev                        # TLS (tls:// through asio::ssl)
  libsqlite3-dev                    # durable queues and dead letters (src/durable/, WAL mode)
  openssl                           # the tests make their TLS certificates with it
  libasio-dev nlohmann-json3-dev libexpected-dev libspdlog-dev libfmt-dev libcli11-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libvalijson-dev                   # JSON Schema validation (handler policies), header-only
  clang libclang-rt-14-dev          # libFuzzer target and its sanitizer runtime
  libzmq3-dev libnng-dev            # benchmark peers only
  libnats-dev                       # the NATS bridge (plexus serve --nats; the NATS C client)
  nats-server                       # tests of the NATS bridge; benchmark peer (plexus_bench_durable)
  libgrpc++-dev libprotobuf-dev     # benchmark peers only (the gRPC rows of plexus_bench_rr)
  protobuf-compiler protobuf-compiler-grpc  # benchmark peers only (protoc, grpc_cpp_plugin)
  iceoryx libiceoryx-posh-dev libiceoryx-hoofs-dev  # shm bench peer (iox-roudi + C++ API)
  dbus-daemon                       # benchmark peer only (the D-Bus row: sd-bus through it)
  python3                           # the protocol-conformance client in tests/conformance
  libcpp-httplib-dev                # the HTTP endpoint: /metrics, /health, status page
  prometheus chromium               # tests: promtool checks /metrics; the status page renders
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# The Node.js binding (bindings/node): node and npm, from Debian unless the machine has them
# already (from another source, whose packages Debian's npm would conflict with).
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)

if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  # A fresh machine has no package lists yet; refresh them once per install.
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The binding's build packages (node-addon-api, node-api-headers, cmake-js) from the npm
# registry, as package-lock.json pins them; again only when the lock file changed. Its install
# script (a cmake-js build of its own) is skipped: the tree's build makes the addon.
node_dir="$(dirname "$0")/../bindings/node"
if [ ! -f "$node_dir/node_modules/.package-lock.json" ] ||
   [ "$node_dir/package-lock.json" -nt "$node_dir/node_modules/.package-lock.json" ]; then
  echo "install-deps: npm ci in bindings/node"
  (cd "$node_dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
fi
