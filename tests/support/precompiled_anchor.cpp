// The one source of plexus_test_pch, the target that builds the precompiled headers every test
// binary reuses (tests/CMakeLists.txt). It holds no code.
