# Recorded machines are committed as the archives they were published as; unpack them once
# into the build tree so tests read them through --fsroot like any other root.
file(GLOB_RECURSE _archives CONFIGURE_DEPENDS
     ${PROJECT_SOURCE_DIR}/tests/fixtures/*.tar.bz2 ${PROJECT_SOURCE_DIR}/tests/fixtures/*.tar.xz)
set(TIERMEM_UNPACKED_FIXTURES ${PROJECT_BINARY_DIR}/fixtures)
foreach(a ${_archives})
  file(RELATIVE_PATH rel ${PROJECT_SOURCE_DIR}/tests/fixtures ${a})
  string(REGEX REPLACE "\\.tar\\.(bz2|xz)$" "" rel ${rel})
  set(dest ${TIERMEM_UNPACKED_FIXTURES}/${rel})
  if(NOT EXISTS ${dest}/.stamp OR ${a} IS_NEWER_THAN ${dest}/.stamp)
    file(REMOVE_RECURSE ${dest})
    file(ARCHIVE_EXTRACT INPUT ${a} DESTINATION ${dest})
    file(TOUCH ${dest}/.stamp)
  endif()
endforeach()
