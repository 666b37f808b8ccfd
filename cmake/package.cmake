# `make package`: a Debian package of the library, headers, CMake and pkg-config files, CLI, its
# man page and the systemd user units (CPack's DEB generator; dependencies from dpkg-shlibdeps
# for the binaries, and the -dev packages the public headers and the static library need).

# The man page, from the CLI's own --help and --version (help2man), gzipped as Debian wants.
find_program(PLEXUS_HELP2MAN help2man)
find_program(PLEXUS_GZIP gzip)
if(PLEXUS_HELP2MAN AND PLEXUS_GZIP)
  set(plexus_man ${PROJECT_BINARY_DIR}/man/plexus.1)
  add_custom_command(OUTPUT ${plexus_man}.gz
    COMMAND ${CMAKE_COMMAND} -E make_directory ${PROJECT_BINARY_DIR}/man
    COMMAND ${CMAKE_COMMAND} -E env PLEXUS_LOG=off ${PLEXUS_HELP2MAN} --no-info --section=1
            --name=fast,\ safe,\ observable\ IPC\ between\ local\ processes
            --include=${PROJECT_SOURCE_DIR}/deploy/man/plexus.h2m
            --output=${plexus_man} $<TARGET_FILE:plexus_cli>
    COMMAND ${PLEXUS_GZIP} -9nf ${plexus_man}
    DEPENDS plexus_cli ${PROJECT_SOURCE_DIR}/deploy/man/plexus.h2m
    COMMENT "Generating the plexus(1) man page" VERBATIM)
  add_custom_target(plexus_man ALL DEPENDS ${plexus_man}.gz)
  install(FILES ${plexus_man}.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man1 COMPONENT cli)
endif()
install(FILES CHANGELOG.md README.md DESTINATION ${CMAKE_INSTALL_DOCDIR} COMPONENT cli)
# Debian wants a changelog of its own format as changelog.gz; it points to CHANGELOG.md. Its date
# is the configure time, or SOURCE_DATE_EPOCH for a reproducible package.
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "plexus maintainers <maintainers@plexus.invalid>")
string(TIMESTAMP PLEXUS_CHANGELOG_DATE "%a, %d %b %Y %H:%M:%S +0000" UTC)
configure_file(deploy/debian-changelog.in ${PROJECT_BINARY_DIR}/debian/changelog @ONLY)
if(PLEXUS_GZIP)
  add_custom_command(OUTPUT ${PROJECT_BINARY_DIR}/debian/changelog.gz
    COMMAND ${PLEXUS_GZIP} -9nkf changelog
    WORKING_DIRECTORY ${PROJECT_BINARY_DIR}/debian
    DEPENDS ${PROJECT_BINARY_DIR}/debian/changelog VERBATIM)
  add_custom_target(plexus_changelog ALL DEPENDS ${PROJECT_BINARY_DIR}/debian/changelog.gz)
  install(FILES ${PROJECT_BINARY_DIR}/debian/changelog.gz DESTINATION ${CMAKE_INSTALL_DOCDIR}
    COMPONENT cli)
endif()

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME plexus)
set(CPACK_PACKAGE_VENDOR plexus)
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "fast, safe, observable IPC between local processes")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # plexus_<version>_<arch>.deb
set(CPACK_DEBIAN_PACKAGE_SECTION net)
# The extended description (CPack indents each line; "." is an empty line).
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
  "plexus is a C++20 library, daemon and CLI for request/response, notifications,
pub/sub, streams and direct shared-memory channels between processes on one
machine, over Unix sockets, TCP on loopback and shared memory.
.
This package has the static library, its headers, CMake and pkg-config files,
the plexus CLI and daemon, its man page and the systemd user units.")
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# What building against the headers and linking the static library needs.
set(CPACK_DEBIAN_PACKAGE_DEPENDS
  "libasio-dev, nlohmann-json3-dev, libexpected-dev, libspdlog-dev, libcpp-httplib-dev,
   libsodium-dev, libtomlplusplus-dev, libssl-dev, libsqlite3-dev, libnats-dev")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "cmake, pkg-config, g++ (>= 4:12)")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
