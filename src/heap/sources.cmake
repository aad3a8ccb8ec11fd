# The heap layer: jemalloc arenas per tier (extent hooks), the address-space slots, and
# pointer -> tier lookup.
#
# jemalloc is linked privately, renamed: Debian's libjemalloc_pic.a with every global symbol
# prefixed `tmje_` (see rename_jemalloc.cmake). The program's own malloc/free stay glibc's and
# no symbol of this copy can collide with another jemalloc in the process.
find_library(TIERMEM_JEMALLOC_PIC NAMES libjemalloc_pic.a
             DOC "Debian's position-independent static jemalloc (libjemalloc-dev)")
if(NOT TIERMEM_JEMALLOC_PIC)
  message(FATAL_ERROR "tiermem: libjemalloc_pic.a not found; install libjemalloc-dev")
endif()
set(_tmje_dir ${CMAKE_BINARY_DIR}/jemalloc)
file(MAKE_DIRECTORY ${_tmje_dir})
add_custom_command(
  OUTPUT ${_tmje_dir}/tmje.o
  BYPRODUCTS ${_tmje_dir}/libtmje.a ${_tmje_dir}/tmje.syms ${_tmje_dir}/tmje_all.o
  COMMAND ${CMAKE_COMMAND} -DNM=${CMAKE_NM} -DOBJCOPY=${CMAKE_OBJCOPY} -DLD=${CMAKE_LINKER}
          -DIN=${TIERMEM_JEMALLOC_PIC} -DOUT=${_tmje_dir}/tmje.o -DSYMS=${_tmje_dir}/tmje.syms
          -P ${CMAKE_CURRENT_LIST_DIR}/rename_jemalloc.cmake
  DEPENDS ${TIERMEM_JEMALLOC_PIC} ${CMAKE_CURRENT_LIST_DIR}/rename_jemalloc.cmake
  COMMENT "Renaming jemalloc's symbols to tmje_* (private copy)"
  VERBATIM)
set_source_files_properties(${_tmje_dir}/tmje.o PROPERTIES EXTERNAL_OBJECT TRUE GENERATED TRUE)
# One target drives the command: listed as a source of both libraries alone, it would run
# twice in parallel builds and the two runs would overwrite each other's files.
add_custom_target(tiermem_jemalloc_object DEPENDS ${_tmje_dir}/tmje.o)
# The object goes into both libtiermem.so and libtiermem.a, so consumers never link a
# jemalloc. An OBJECT library does not carry external objects, and the two library targets
# are created after this file is read: attach it once the directory is processed.
function(_tiermem_attach_jemalloc obj)
  target_sources(tiermem PRIVATE ${obj})
  target_sources(tiermem_static PRIVATE ${obj})
  add_dependencies(tiermem tiermem_jemalloc_object)
  add_dependencies(tiermem_static tiermem_jemalloc_object)
endfunction()
cmake_language(DEFER CALL _tiermem_attach_jemalloc ${_tmje_dir}/tmje.o)
list(APPEND TIERMEM_SOURCES ${CMAKE_CURRENT_LIST_DIR}/libm_lazy.cpp)
list(APPEND TIERMEM_PRIVATE_LIBS ${CMAKE_DL_LIBS})
list(APPEND TIERMEM_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/tcache.cpp
  ${CMAKE_CURRENT_LIST_DIR}/front.cpp
  ${CMAKE_CURRENT_LIST_DIR}/slots.cpp
  ${CMAKE_CURRENT_LIST_DIR}/registry.cpp
  ${CMAKE_CURRENT_LIST_DIR}/arena.cpp
  ${CMAKE_CURRENT_LIST_DIR}/stats.cpp
  ${CMAKE_CURRENT_LIST_DIR}/fork.cpp
  ${CMAKE_CURRENT_LIST_DIR}/limit.cpp
  ${CMAKE_CURRENT_LIST_DIR}/peak.cpp
  ${CMAKE_CURRENT_LIST_DIR}/publish.cpp
  ${CMAKE_CURRENT_LIST_DIR}/extent_map.cpp
  ${CMAKE_CURRENT_LIST_DIR}/owner.cpp
)
