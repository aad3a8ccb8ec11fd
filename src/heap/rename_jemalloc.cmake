# Build-time step (cmake -P): make a private copy of Debian's libjemalloc_pic.a whose every
# global symbol carries the prefix `tmje_` (as memkind does with `jemk_`). The symbol list
# comes from `nm` on the installed archive, so a jemalloc update needs no edit here.
# The renamed archive is then linked into one relocatable object (ld -r) in which only the
# functions tiermem calls stay global, so that the object can go into both libtiermem.so and
# libtiermem.a and no consumer ever needs to link a jemalloc of its own.
#   -DNM=... -DOBJCOPY=... -DLD=... -DIN=libjemalloc_pic.a -DOUT=tmje.o -DSYMS=tmje.syms
cmake_minimum_required(VERSION 3.25)
execute_process(COMMAND ${NM} -g --defined-only ${IN}
                OUTPUT_VARIABLE nm_out RESULT_VARIABLE rc ERROR_QUIET)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "tiermem: `${NM} -g --defined-only ${IN}` failed (${rc})")
endif()
string(REPLACE "\n" ";" lines "${nm_out}")
set(names "")
foreach(line IN LISTS lines)
  # "<addr> <type> <name>"; DW.ref.* are COMDAT personality references, not jemalloc's.
  if(line MATCHES "^[0-9a-fA-F]+ [A-Za-z] ([^ ]+)$")
    set(name "${CMAKE_MATCH_1}")
    if(NOT name MATCHES "^DW\\.ref\\.")
      list(APPEND names "${name}")
    endif()
  endif()
endforeach()
list(REMOVE_DUPLICATES names)
list(LENGTH names count)
foreach(required malloc free mallocx dallocx mallctl)
  if(NOT required IN_LIST names)
    message(FATAL_ERROR "tiermem: ${IN} does not define `${required}`; is it jemalloc 5?")
  endif()
endforeach()
set(map "")
foreach(name IN LISTS names)
  string(APPEND map "${name} tmje_${name}\n")
endforeach()
# jemalloc's only calls into libm (exp, log, round) are in heap profiling, which tiermem never turns
# on: they go to heap/libm_lazy.cpp, which loads libm on first use, so no process loads libm
# (a library, its mappings and relocations) for tiermem's sake.
string(APPEND map "exp tmje_libm_exp\nlog tmje_libm_log\nround tmje_libm_round\n")
file(WRITE ${SYMS} "${map}")
get_filename_component(dir ${OUT} DIRECTORY)
execute_process(COMMAND ${OBJCOPY} --redefine-syms=${SYMS} ${IN} ${dir}/libtmje.a
                RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "tiermem: objcopy --redefine-syms over ${IN} failed (${rc})")
endif()
execute_process(COMMAND ${LD} -r --whole-archive ${dir}/libtmje.a -o ${dir}/tmje_all.o
                RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "tiermem: ld -r over the renamed jemalloc failed (${rc})")
endif()
# Global: what src/heap/jemalloc.hpp declares, and the COMDAT personality references.
set(keep "")
foreach(name malloc free mallocx rallocx dallocx sdallocx sallocx nallocx mallctl)
  string(APPEND keep "tmje_${name}\n")
endforeach()
string(APPEND keep "DW.ref.__gxx_personality_v0\nDW.ref._ZTISt9bad_alloc\n")
file(WRITE ${dir}/tmje.keep "${keep}")
# Without its constructor: jemalloc initialises at the first call into it (every entry point
# checks), not at load, so a process that never allocates from a tier pays nothing for it
# (about 30 page faults and a third of the preload library's start-up on /bin/true). The fork
# handlers keep their order: heap/fork.cpp registers ours before any first jemalloc call.
execute_process(COMMAND ${OBJCOPY} --keep-global-symbols=${dir}/tmje.keep
                        --remove-section=.init_array --remove-section=.rela.init_array
                        ${dir}/tmje_all.o ${OUT}
                RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "tiermem: objcopy --keep-global-symbols failed (${rc})")
endif()
message(STATUS "tiermem: private jemalloc: ${count} symbols renamed to tmje_*")
