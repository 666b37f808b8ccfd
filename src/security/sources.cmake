# The security layer's sources, relative to src/: the library (src/CMakeLists.txt) and the fuzz
# build (tests/fuzz/CMakeLists.txt) both compile this list.
set(plexus_security_sources
  security/token.cpp
  security/access_policy.cpp)
