list(APPEND TIERMEM_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/sysfs_source.cpp
  ${CMAKE_CURRENT_LIST_DIR}/dax.cpp
  ${CMAKE_CURRENT_LIST_DIR}/nd_region.cpp
  ${CMAKE_CURRENT_LIST_DIR}/hwloc_source.cpp
  ${CMAKE_CURRENT_LIST_DIR}/hwloc_cache.cpp
  ${CMAKE_CURRENT_LIST_DIR}/rank.cpp
  ${CMAKE_CURRENT_LIST_DIR}/topology.cpp
)
list(APPEND TIERMEM_SOURCES ${CMAKE_CURRENT_LIST_DIR}/emulate.cpp ${CMAKE_CURRENT_LIST_DIR}/env.cpp
  ${CMAKE_CURRENT_LIST_DIR}/spec.cpp)
list(APPEND TIERMEM_SOURCES ${CMAKE_CURRENT_LIST_DIR}/tiermem_dax.cpp
  ${CMAKE_CURRENT_LIST_DIR}/hwloc_lib.cpp)
# libhwloc is loaded on first use (hwloc_lib.hpp), by the soname of the library whose headers
# we compile against: the name the linker would have recorded.
find_library(TIERMEM_HWLOC_LIBRARY NAMES hwloc HINTS ${HWLOC_LIBRARY_DIRS} REQUIRED)
execute_process(COMMAND ${CMAKE_OBJDUMP} -p ${TIERMEM_HWLOC_LIBRARY}
                OUTPUT_VARIABLE _tm_hwloc_dyn RESULT_VARIABLE _tm_rc ERROR_QUIET)
if(NOT _tm_rc EQUAL 0 OR NOT _tm_hwloc_dyn MATCHES "SONAME +([^ \n]+)")
  message(FATAL_ERROR "tiermem: cannot read the SONAME of ${TIERMEM_HWLOC_LIBRARY}")
endif()
set(TIERMEM_HWLOC_SONAME ${CMAKE_MATCH_1})
set_source_files_properties(${CMAKE_CURRENT_LIST_DIR}/hwloc_lib.cpp ${CMAKE_CURRENT_LIST_DIR}/hwloc_cache.cpp
  PROPERTIES COMPILE_DEFINITIONS "TIERMEM_HWLOC_SONAME=\"${TIERMEM_HWLOC_SONAME}\"")
list(APPEND TIERMEM_PRIVATE_LIBS ${CMAKE_DL_LIBS})
