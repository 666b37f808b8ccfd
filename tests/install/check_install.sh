#!/usr/bin/env bash
# Usage: check_install.sh SOURCE_DIR BUILD_DIR WORK_DIR
# Uses plexus the four ways its users do, each from the outside, and runs the example each time:
#   1. `cmake --install` to a temporary prefix, then examples/ built on its own with find_package;
#   2. the same prefix through pkg-config, compiled with g++ directly;
#   3. `cpack` builds the .deb: its file list and dependencies are checked, and the example is
#      built against the package's files (dpkg -x);
#   4. add_subdirectory from tests/install/parent, as a shared library, with GoogleTest, CLI11
#      and ZeroMQ unfindable: the library alone is built, the parent's flags stay its own, the
#      .so has a SONAME and exports the public API only.
set -euo pipefail
src=$1 build=$2 work=$3
rm -rf "$work" && mkdir -p "$work"
step() { echo "== $*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
quiet() { "$@" > "$work/last.log" 2>&1 || { cat "$work/last.log" >&2; fail "$*"; }; }

step "1. cmake --install, find_package(plexus)"
quiet cmake --install "$build" --prefix "$work/prefix"
for f in include/plexus/plexus.hpp include/plexus/version.hpp include/plexus/export.hpp \
         bin/plexus lib/libplexus.a lib/cmake/plexus/plexusConfig.cmake \
         lib/cmake/plexus/plexusConfigVersion.cmake lib/cmake/plexus/plexusTargets.cmake \
         lib/pkgconfig/plexus.pc lib/systemd/user/plexus.socket lib/systemd/user/plexus.service; do
  [ -e "$work/prefix/$f" ] || fail "cmake --install left out $f"
done
grep -q "ExecStart=$work/prefix/bin/plexus serve" "$work/prefix/lib/systemd/user/plexus.service" ||
  fail "plexus.service does not start the installed CLI"
if ls "$work/prefix/include/plexus" | grep -v '\.hpp$'; then fail "non-header files installed"; fi
quiet cmake -S "$src/examples" -B "$work/find_package" -G Ninja -DCMAKE_PREFIX_PATH="$work/prefix"
quiet cmake --build "$work/find_package" --target hello_plexus
"$work/find_package/hello_plexus" > "$work/find_package.out" || fail "hello_plexus (find_package)"
# A version the installed package does not satisfy is refused.
mkdir -p "$work/too_new"
cat > "$work/too_new/CMakeLists.txt" <<'CMAKE'
cmake_minimum_required(VERSION 3.25)
project(too_new LANGUAGES CXX)
find_package(plexus 0.3 REQUIRED)
CMAKE
if cmake -S "$work/too_new" -B "$work/too_new/build" -DCMAKE_PREFIX_PATH="$work/prefix" \
     > "$work/too_new.log" 2>&1; then
  fail "find_package(plexus 0.3) accepted plexus 0.2"
fi
grep -q "version: 0.2" "$work/too_new.log" || { cat "$work/too_new.log"; fail "no version message"; }

step "2. pkg-config --cflags --libs plexus"
export PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig"
[ "$(pkg-config --modversion plexus)" = "$(sed -n 's/^#define PLEXUS_VERSION_STRING "\(.*\)"/\1/p' \
    "$work/prefix/include/plexus/version.hpp")" ] || fail "plexus.pc and version.hpp disagree"
# shellcheck disable=SC2046
quiet g++ -O1 -o "$work/hello_pkgconfig" "$src/examples/hello_plexus.cpp" \
  $(pkg-config --cflags --libs plexus)
"$work/hello_pkgconfig" > "$work/pkgconfig.out" || fail "hello_plexus (pkg-config)"
unset PKG_CONFIG_PATH

step "3. cpack: the .deb"
(cd "$build" && quiet cpack -G DEB -B "$work/deb")
deb=$(ls "$work"/deb/plexus_*_amd64.deb)
dpkg-deb -c "$deb" | awk '{print $6}' > "$work/deb.files"
for f in ./usr/bin/plexus ./usr/include/plexus/client.hpp ./usr/include/plexus/version.hpp \
         ./usr/include/plexus/export.hpp ./usr/lib/libplexus.a ./usr/lib/cmake/plexus/plexusConfig.cmake \
         ./usr/lib/pkgconfig/plexus.pc ./usr/share/man/man1/plexus.1.gz \
         ./usr/lib/systemd/user/plexus.socket ./usr/lib/systemd/user/plexus.service \
         ./usr/share/doc/plexus/CHANGELOG.md ./usr/share/doc/plexus/changelog.gz; do
  grep -qx "$f" "$work/deb.files" || { cat "$work/deb.files"; fail ".deb lacks $f"; }
done
depends=$(dpkg-deb -f "$deb" Depends)
for d in libspdlog libfmt libcpp-httplib libsystemd0 libasio-dev nlohmann-json3-dev; do
  grep -q "$d" <<< "$depends" || fail ".deb Depends lacks $d: $depends"
done
service=$(dpkg-deb --fsys-tarfile "$deb" | tar -xO ./usr/lib/systemd/user/plexus.service)
grep -q "ExecStart=/usr/bin/plexus serve" <<< "$service" || fail "packaged plexus.service"
dpkg -x "$deb" "$work/deb/root"
version=$("$work/deb/root/usr/bin/plexus" --version)
grep -q "^plexus " <<< "$version" || fail "packaged CLI --version: $version"
quiet cmake -S "$src/examples" -B "$work/deb/examples" -G Ninja \
  -DCMAKE_PREFIX_PATH="$work/deb/root/usr"
quiet cmake --build "$work/deb/examples" --target hello_plexus
"$work/deb/examples/hello_plexus" > "$work/deb.out" || fail "hello_plexus (from the .deb)"

step "4. add_subdirectory, shared library"
quiet cmake -S "$src/tests/install/parent" -B "$work/parent" -G Ninja \
  -DPLEXUS_SOURCE_DIR="$src" -DBUILD_SHARED_LIBS=ON -DCMAKE_EXPORT_COMPILE_COMMANDS=ON \
  -DCMAKE_DISABLE_FIND_PACKAGE_GTest=ON -DCMAKE_DISABLE_FIND_PACKAGE_CLI11=ON
grep -q "ZMQ_FOUND" "$work/parent/CMakeCache.txt" && fail "the parent looked for ZeroMQ"
quiet cmake --build "$work/parent"
"$work/parent/app" > "$work/parent.out" || fail "hello_plexus (add_subdirectory, shared)"
so=$(ls "$work"/parent/plexus/src/libplexus.so.*.* | head -1)
# (Whole outputs into variables: `cmd | grep -q` under pipefail fails when grep stops reading.)
dynamic=$(readelf -d "$so")
grep -q "SONAME.*libplexus.so.0.2" <<< "$dynamic" || fail "no SONAME libplexus.so.0.2"
linked=$(ldd "$work/parent/app")
grep -q "libplexus.so.0.2" <<< "$linked" || fail "app is not linked to the .so: $linked"
nm -DC --defined-only "$so" > "$work/exports"
grep -q " plexus::Client::" "$work/exports" || fail "the .so does not export plexus::Client"
# Names that are themselves in an internal namespace (a public member taking an internal type,
# or a template instantiated with one, is not).
internal=$(cut -d' ' -f3- "$work/exports" | sed -E 's/^(vtable|typeinfo|typeinfo name|VTT) for //' |
  grep -E "^plexus::(rpc|transport|policy|observe|platform|wire)::" || true)
[ -z "$internal" ] || { head -5 <<< "$internal"; fail "the .so exports internal symbols"; }
# The parent's own target gets none of plexus's warning, linker or sanitizer options.
python3 - "$work/parent/compile_commands.json" <<'PY' || fail "plexus's flags leaked into the parent"
import json, sys
app = [c for c in json.load(open(sys.argv[1])) if c["file"].endswith("examples/hello_plexus.cpp")]
assert app, "app's compile command is missing"
for flag in ("-Wall", "-Wextra", "-Werror", "-fsanitize"):
    assert flag not in app[0]["command"], flag + " in " + app[0]["command"]
PY
echo "install.consumers: find_package, pkg-config, .deb and add_subdirectory (shared) all work"
