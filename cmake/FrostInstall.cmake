# cmake/FrostInstall.cmake -- the C embedding library and what
# `cmake --install` / `pip install` put in place.
#
# frost::frost (libfrost.a): interp/pool.c (+ fork.c), the API of <frost/frost_pool.h>.
#   Its users embed CPython, so they link their libpython themselves (the
#   same major.minor as frost_PYTHON_VERSION); the library carries no link to
#   it. The headers are copied to ${PROJECT_BINARY_DIR}/include/frost, so
#   `#include <frost/frost_pool.h>` works the same from a build tree
#   (add_subdirectory) and from an install.
#
# pip install (scikit-build-core sets SKBUILD): only the Python package:
#   frost/_frost*.so and frost/_version.py (wheel.packages ships python/frost).
# cmake --install (FROST_INSTALL, on when frost is the top-level project):
#   include/frost/frost_pool.h, frost_arena.h      compile with -I<prefix>/include only
#   lib/libfrost.a
#   lib/cmake/frost/frost{Config,ConfigVersion,Targets}.cmake   find_package(frost)
#   lib/pkgconfig/frost.pc                          pkg-config --cflags --libs frost
#   FROST_INSTALL_PYTHONDIR/frost/                  the Python package the workers import
#     (default lib/python3.X/site-packages; put it on PYTHONPATH)
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(FROST_PUBLIC_HEADERS "${PROJECT_SOURCE_DIR}/interp/frost_pool.h"
                         "${PROJECT_SOURCE_DIR}/store/frost_arena.h")
foreach(header IN LISTS FROST_PUBLIC_HEADERS)
  get_filename_component(name "${header}" NAME)
  configure_file("${header}" "${PROJECT_BINARY_DIR}/include/frost/${name}" COPYONLY)
endforeach()

add_library(frost_embed STATIC "${PROJECT_SOURCE_DIR}/interp/pool.c" "${PROJECT_SOURCE_DIR}/interp/fork.c")
add_library(frost::frost ALIAS frost_embed)
set_target_properties(frost_embed PROPERTIES OUTPUT_NAME frost EXPORT_NAME frost)
target_include_directories(frost_embed
  PUBLIC "$<BUILD_INTERFACE:${PROJECT_BINARY_DIR}/include>"
         "$<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>"
  PRIVATE "${PROJECT_BINARY_DIR}/include/frost" ${Python_INCLUDE_DIRS})
target_compile_options(frost_embed PRIVATE ${FROST_WARNINGS})
target_link_libraries(frost_embed PUBLIC Threads::Threads)

if(SKBUILD)
  install(TARGETS _frost LIBRARY DESTINATION frost)
  install(FILES "${FROST_PYTHON_DIR}/frost/_version.py" DESTINATION frost)
  return()
endif()
if(NOT FROST_INSTALL)
  return()
endif()

set(FROST_INSTALL_PYTHONDIR
    "${CMAKE_INSTALL_LIBDIR}/python${Python_VERSION_MAJOR}.${Python_VERSION_MINOR}/site-packages"
    CACHE STRING "Where cmake --install puts the frost Python package (relative to the prefix)")
install(TARGETS _frost LIBRARY DESTINATION "${FROST_INSTALL_PYTHONDIR}/frost")
foreach(rel IN LISTS FROST_PY_SOURCES ITEMS frost/_version.py)
  get_filename_component(dir "${rel}" DIRECTORY)
  install(FILES "${FROST_PYTHON_DIR}/${rel}" DESTINATION "${FROST_INSTALL_PYTHONDIR}/${dir}")
endforeach()

install(FILES ${FROST_PUBLIC_HEADERS} DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}/frost")
install(TARGETS frost_embed EXPORT frostTargets ARCHIVE DESTINATION "${CMAKE_INSTALL_LIBDIR}")
set(FROST_CMAKEDIR "${CMAKE_INSTALL_LIBDIR}/cmake/frost")
install(EXPORT frostTargets NAMESPACE frost:: DESTINATION "${FROST_CMAKEDIR}")
set(FROST_PYTHON_VERSION "${Python_VERSION_MAJOR}.${Python_VERSION_MINOR}")
configure_package_config_file("${PROJECT_SOURCE_DIR}/cmake/frostConfig.cmake.in"
  "${PROJECT_BINARY_DIR}/frostConfig.cmake" INSTALL_DESTINATION "${FROST_CMAKEDIR}"
  PATH_VARS FROST_INSTALL_PYTHONDIR)
write_basic_package_version_file("${PROJECT_BINARY_DIR}/frostConfigVersion.cmake"
  COMPATIBILITY SameMinorVersion)
install(FILES "${PROJECT_BINARY_DIR}/frostConfig.cmake" "${PROJECT_BINARY_DIR}/frostConfigVersion.cmake"
        DESTINATION "${FROST_CMAKEDIR}")

# pkg-config: relocatable (prefix relative to the .pc file), like --prefix.
file(RELATIVE_PATH FROST_PC_TO_PREFIX "/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/")
configure_file("${PROJECT_SOURCE_DIR}/cmake/frost.pc.in" "${PROJECT_BINARY_DIR}/frost.pc" @ONLY)
install(FILES "${PROJECT_BINARY_DIR}/frost.pc" DESTINATION "${CMAKE_INSTALL_LIBDIR}/pkgconfig")
