# What `cmake --install` puts where, and the files that let other projects find it:
# plexus::plexus through find_package (plexusConfig.cmake) and pkg-config (plexus.pc).
include(CMakePackageConfigHelpers)

set(PLEXUS_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/plexus)

install(TARGETS plexus EXPORT plexusTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT dev
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT lib NAMELINK_COMPONENT dev
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY include/plexus ${PLEXUS_GENERATED_INCLUDE}/plexus
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} COMPONENT dev FILES_MATCHING PATTERN "*.hpp")
install(EXPORT plexusTargets NAMESPACE plexus:: DESTINATION ${PLEXUS_CMAKE_DIR} COMPONENT dev)

# 0.x: a minor release may break the API, so 0.2 accepts 0.2.y only; from 1.0 on, same major.
if(PROJECT_VERSION_MAJOR EQUAL 0)
  set(plexus_compatibility SameMinorVersion)
else()
  set(plexus_compatibility SameMajorVersion)
endif()
if(BUILD_SHARED_LIBS)
  set(PLEXUS_STATIC_LIBRARY OFF)
else()
  set(PLEXUS_STATIC_LIBRARY ON)
endif()
configure_package_config_file(cmake/plexusConfig.cmake.in
  ${PROJECT_BINARY_DIR}/plexusConfig.cmake INSTALL_DESTINATION ${PLEXUS_CMAKE_DIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/plexusConfigVersion.cmake
  COMPATIBILITY ${plexus_compatibility})
install(FILES ${PROJECT_BINARY_DIR}/plexusConfig.cmake ${PROJECT_BINARY_DIR}/plexusConfigVersion.cmake
  DESTINATION ${PLEXUS_CMAKE_DIR} COMPONENT dev)

# pkg-config: a static library's users link its dependencies too, so they are in Requires and
# Libs; a shared library's carry them itself (Requires.private).
if(BUILD_SHARED_LIBS)
  set(PLEXUS_PC_REQUIRES "nlohmann_json")
  set(PLEXUS_PC_REQUIRES_PRIVATE "spdlog cpp-httplib libsodium tomlplusplus openssl sqlite3 libnats")
  set(PLEXUS_PC_CFLAGS "")
else()
  set(PLEXUS_PC_REQUIRES "nlohmann_json spdlog cpp-httplib libsodium tomlplusplus openssl sqlite3 libnats")
  set(PLEXUS_PC_REQUIRES_PRIVATE "")
  set(PLEXUS_PC_CFLAGS "-DPLEXUS_STATIC_DEFINE")
endif()
# plexus.pc names its prefix relative to its own directory, so the tree can move (DESTDIR,
# --prefix at install time, a package).
file(RELATIVE_PATH PLEXUS_PC_UP /prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig /prefix)
configure_file(cmake/plexus.pc.in ${PROJECT_BINARY_DIR}/plexus.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/plexus.pc
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig COMPONENT dev)

# The systemd user units; the service names the CLI where this install puts it.
if(PLEXUS_BUILD_TOOLS)
  set(PLEXUS_SYSTEMD_USER_DIR lib/systemd/user)
  install(CODE "
    set(PLEXUS_BINDIR \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_BINDIR}\")
    configure_file(${PROJECT_SOURCE_DIR}/deploy/systemd/plexus.service.in
                   ${PROJECT_BINARY_DIR}/plexus.service @ONLY)" COMPONENT cli)
  install(FILES deploy/systemd/plexus.socket ${PROJECT_BINARY_DIR}/plexus.service
    DESTINATION ${PLEXUS_SYSTEMD_USER_DIR} COMPONENT cli)
  include(cmake/package.cmake)
endif()
